"""The Gradio studio's internals: the comparison engine (``core``), its views, the Benchmark and
Models tabs, the shipped samples and the server's limits. ``app.py`` at the repository root lays
out the page and wires the events; everything it shows is computed here, from the library
(``studio.*``) and the results files (``studio.results``). Nothing here imports the dashboard."""
