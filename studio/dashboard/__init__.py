"""The Streamlit experiment dashboard (``streamlit run studio/dashboard/app.py``): torch-free, it
reads ``results/`` through ``studio.results`` only. Nothing here imports the Gradio app."""
