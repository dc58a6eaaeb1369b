"""The download manager: dataset files from the data server into ONE's own layout.

No Textual here. ``values`` is the seam's vocabulary (the app and the CLI hold these);
``urls`` builds a file's URL as ONE-api does from a table row; ``plan`` turns sessions and
selectors into :class:`~one_tui.engine.fetch.values.FileTask` s and checks the space;
``transfer`` fetches one file (resume, verify while streaming, atomic rename); ``job`` runs
the files in parallel with retries and progress; ``doctor`` checks and fixes what is on disk.
What "on this disk" means is ``local/ondisk.py``; the verify-once record ``local/verified.py``.
"""
