"""Autograder for the containerisation course: really builds and runs the students' work."""

from autograder.core import Check, CheckResult, Fail, GraderUnavailable, Lab, Report, Skip, Status

__version__ = "0.1.0"
__all__ = ["Check", "CheckResult", "Fail", "GraderUnavailable", "Lab", "Report", "Skip", "Status"]
