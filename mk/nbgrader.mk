# Instructor targets (nbgrader cycle without JupyterHub). Included by the Makefile.
# The logic is in autograder/course.py; the configuration in nbgrader_config.py.
# release/, submitted/, autograded/, feedback/ and gradebook.db are git-ignored; the grades CSVs
# go to build/nbgrader/grades.csv and grades-wide.csv (autograder/exports.py).

SUBMISSIONS ?=
# Gradings run ahead in parallel before nbgrader's sequential autograde (see autograder/course.py).
# 1 by default: with 2, the end-to-end test's solution twice lost 01-layer-cache (pip re-run on a
# rebuild) while another submission was graded beside it; not reproduced outside the test (a
# concurrent `autograder clean` from another session is the likely cause).
NBGRADER_WORKERS ?= 1
COURSE := $(PY) -m autograder.course

.PHONY: release collect grade feedback export analytics nbgrader-cells

nbgrader-cells: $(STAMP) ## Regenerate the question and grade cells of every labs/*/enonce.ipynb from the registries
	$(PY) -m autograder nbgrader-cells

release: $(STAMP) ## Instructors: nbgrader generate_assignment, one lab (LAB=01) or every lab (labs/ → release/)
	$(COURSE) release $(LAB)

collect: $(STAMP) ## Instructors: make collect SUBMISSIONS=folder_or.zip (<student>/<lab>/… → submitted/)
	@test -n "$(SUBMISSIONS)" || { echo "Usage : make collect SUBMISSIONS=dossier_ou_archive.zip"; exit 2; }
	$(COURSE) collect "$(SUBMISSIONS)"

grade: docker-ready ## Instructors: autograde every submission (NBGRADER_WORKERS=N gradings ahead in parallel)
	$(COURSE) grade --workers $(NBGRADER_WORKERS)

feedback: $(STAMP) ## Instructors: HTML feedback per student and lab in French, no traceback (autograded/ → feedback/)
	$(COURSE) feedback

export: $(STAMP) ## Instructors: grades.csv (student × lab, empty when not handed in) and grades-wide.csv (total /20) in build/nbgrader/; docs/lms-moodle.md
	$(COURSE) export

analytics: $(STAMP) ## Instructors: class report, score distribution and pass rate per check (build/nbgrader/rapport.html)
	$(PY) -m autograder.analytics
