"""Autograder for the containerisation course: really builds and runs the students' work.

Rooms, lowest first; a room imports only its own room and lower ones (tests/unit/test_import_rules.py):

- ``core``: the foundation: checks, labs, results; imports nothing of the package.
- ``readers``: static readers of a submission's files and answers, no Docker.
- ``engine``: the only code that talks to Docker: sandbox and policy, builds, Compose, API proxy, runner.
- ``probes``: behavioural probes by domain, built on the engine, shared by the labs' checks.
- ``labs``: one module per lab: its checks, constants and quiz questions.
- ``registry``: the labs' index, and the quiz questions derived from the lab modules.
- ``report``: the scorecard (rich, JSON), JUnit XML and progress lines.
- ``classroom``: nbgrader, quiz cells, analytics, hidden checks, exports, hand-ins, CI runners.
- ``tools``: machine tools (doctor, bundle, bench); ``notebook``: the chapters' helper.
- ``cli``: ``python -m autograder``.
"""

from autograder.core import Check, CheckResult, Fail, GraderUnavailable, Lab, Report, Skip, Status

__version__ = "0.1.0"
__all__ = ["Check", "CheckResult", "Fail", "GraderUnavailable", "Lab", "Report", "Skip", "Status"]
