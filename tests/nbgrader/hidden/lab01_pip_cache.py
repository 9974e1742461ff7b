"""A hidden check for the tests (an instructor keeps such modules outside the public repository)."""

from autograder.core import Fail

LAB = "01"


def register(lab):
    @lab.check("01-pip-sans-cache", "pip install sans cache (--no-cache-dir)", 0.5, static=True)
    def pip_no_cache(g):
        path = g.workdir / "Dockerfile"
        text = path.read_text() if path.is_file() else ""
        if "pip install" not in text or "--no-cache-dir" not in text:
            raise Fail("`pip install --no-cache-dir` dans le Dockerfile",
                       "pas d'option --no-cache-dir",
                       "ajoutez --no-cache-dir : le cache de pip n'a rien à faire dans l'image.")
