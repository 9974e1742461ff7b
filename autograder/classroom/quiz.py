"""Questions de cours: the autograded question cells of the lab notebooks.

Each lab module (``autograder/labs/labNN_*.py``) ends with its two questions (``QUESTIONS``) and
their checkers; :func:`autograder.registry.all_questions` derives the list from the lab modules, as
the list of labs is derived. A question (:class:`autograder.readers.answers.Question`) has a stable
id (``NN-q-slug``, never reused), a French prompt, the name of the answer variable, its points, its
kind (a command, a multiple choice, a short value), a French explanation shown when the answer is
wrong (what was expected, in words, and where the lab explains it) and a checker.

:mod:`autograder.classroom.nbgrade` generates, for each question, a prompt cell, an nbgrader answer cell
(``reponse_xxx = ""``, the student writes there) and a locked grade cell::

    from autograder.classroom.quiz import corriger
    corriger("02-q-volumes", reponse_volumes)

Answers are graded on their meaning, not their text (:mod:`autograder.readers.answers`): a command
is split with :mod:`shlex` and every valid spelling passes (``docker volume ls`` or ``list``,
``docker ps -a`` or ``docker container ls --all``, with ``-q`` or ``--format``…); a multiple choice
is a set of letters in any order, case or separator. The student's answer is never executed. The
reference answers live in the tests (``tests/nbgrader/quiz_answers.toml``), not in the notebooks.
"""

from __future__ import annotations

from autograder.readers.answers import CHOIX, COMMANDE, POINTS, VALEUR, Faux, Question, texte
from autograder.registry import all_questions
from autograder.report import _fmt

__all__ = ["CHOIX", "COMMANDE", "POINTS", "QUESTIONS", "VALEUR", "Faux", "Question", "corriger", "evaluer",
           "get", "questions", "total"]


def __getattr__(name: str):
    """``QUESTIONS``: every lab's questions, derived from the lab modules when first asked for (so
    that importing this module does not import the labs)."""
    if name == "QUESTIONS":
        return all_questions()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def questions(lab: str) -> list[Question]:
    """The questions of ``lab`` (its number or its id), in its module's order."""
    return [q for q in all_questions() if q.lab == lab[:2]]


def total(lab: str) -> float:
    return sum(q.points for q in questions(lab))


def get(question_id: str) -> Question:
    for q in all_questions():
        if q.id == question_id:
            return q
    raise KeyError(question_id)


def evaluer(question_id: str, reponse) -> tuple[bool, str]:
    """(right, French message) for ``reponse``; the answer is parsed, never executed."""
    q = get(question_id)
    head = f"{q.id} ({_fmt(q.points)} pt)"
    s = texte(reponse)
    if not s:
        return False, (f"{head} : pas de réponse. Écrivez-la entre les guillemets de "
                       f"`{q.variable} = \"\"` dans la cellule au-dessus, exécutez-la, puis celle-ci.")
    try:
        q.check(s)
    except Faux as exc:
        lines = [f"{head} : réponse incorrecte.", f"Votre réponse : {s}"]
        if str(exc):
            lines.append(str(exc))
        lines.append(f"Attendu : {q.explanation}")
        return False, "\n".join(lines)
    return True, f"✔ {head} : bonne réponse."


def corriger(question_id: str, reponse) -> None:
    """What a question's grade cell calls: print one ✔ line when right; raise AssertionError with
    the French explanation otherwise. Nothing goes to stderr."""
    ok, message = evaluer(question_id, reponse)
    if not ok:
        raise AssertionError(message)
    print(message)
