"""Reports: built once from the matches (``build``), rendered by format (``render``, ``html``)."""
