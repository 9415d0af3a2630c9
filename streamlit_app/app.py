"""The teaching kit's browser app: `make app` (or `streamlit run streamlit_app/app.py`).

Pages are discovered from streamlit_app/topics/NN_name.py, in number order, so each topic adds its
page without touching this file. The folder is not called `pages/`: Streamlit serves a folder of
that name as its older file-based navigation to a browser that opens a page's URL directly,
without this file's navigation, titles or wide layout.
"""

import sys
from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # course_lib importable even when not installed
sys.path.insert(0, str(HERE))  # `import common` from every page

ACRONYMS = {"mae": "MAE", "clip": "CLIP", "vit": "ViT", "cnn": "CNN", "dino": "DINO", "swin": "Swin"}


def page_title(path):
    """'05_mae_reconstructions.py' → 'MAE reconstructions'."""
    words = path.stem.split("_")[1:]
    words = [ACRONYMS.get(w, w) for w in words]
    title = " ".join(words)
    return title[:1].upper() + title[1:]


def discover_pages():
    pages = [st.Page(str(HERE / "home.py"), title="Home", icon="🏠", default=True)]
    for path in sorted((HERE / "topics").glob("[0-9][0-9]_*.py")):
        pages.append(st.Page(str(path), title=page_title(path), url_path=path.stem[3:]))
    return pages


st.set_page_config(page_title="ViT & SSL teaching kit", page_icon="🔭", layout="wide")
st.navigation(discover_pages()).run()
