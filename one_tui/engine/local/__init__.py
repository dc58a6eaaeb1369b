"""ONE's files on this disk: the tables of a cache folder, read, queried, merged and saved.

Bottom to top (a module imports only those above it): ``layout`` (where a table lives),
``lock`` (sharing the folder with ONE-api), ``fileformat`` / ``filewrite`` (a table file read /
written), ``merge`` (ONE's merge rule on DataFrames), ``codes`` (the datasets as integer codes),
``cache`` (the ``Cache``: tables in memory, what changed, freshness), ``store`` (``load_cache`` /
``save_cache``); for queries ``converters``, ``patterns``, ``dataset_view``, ``listing``,
``query``; ``ondisk`` (which datasets are on this disk). Never imports ``engine.remote``.
"""
