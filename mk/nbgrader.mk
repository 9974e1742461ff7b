# Instructor targets (nbgrader cycle without JupyterHub). Included by the Makefile.
# The logic is in autograder/classroom/course.py; the configuration in nbgrader_config.py.
# release/, submitted/, autograded/, feedback/ and gradebook.db are git-ignored; the grades CSVs
# go to build/nbgrader/grades.csv and grades-wide.csv (autograder/classroom/exports.py).

SUBMISSIONS ?=
# Gradings run ahead in parallel before nbgrader's sequential autograde (see autograder/classroom/course.py),
# one per core by default; `make grade NBGRADER_WORKERS=1` grades inside the notebooks, one at a time.
NBGRADER_WORKERS ?= $(shell nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 1)
# make grade: only new or changed hand-ins; FORCE=1 all of them; STUDENT=… and/or LAB=01 some.
FORCE ?=
STUDENT ?=
COURSE := $(PY) -m autograder.classroom.course

.PHONY: release collect grade feedback export analytics nbgrader-cells

nbgrader-cells: $(STAMP) ## Regenerate the question and grade cells of every labs/*/enonce.ipynb from the registries
	$(PY) -m autograder nbgrader-cells

release: $(STAMP) ## Instructors: nbgrader generate_assignment, one lab (LAB=01) or every lab (labs/ → release/)
	$(COURSE) release $(LAB)

collect: $(STAMP) ## Instructors: make collect SUBMISSIONS=folder_or.zip (<student>/<lab>/… → submitted/)
	@test -n "$(SUBMISSIONS)" || { echo "Usage : make collect SUBMISSIONS=dossier_ou_archive.zip"; exit 2; }
	$(COURSE) collect "$(SUBMISSIONS)"

grade: docker-ready ## Instructors: autograde new or changed submissions (FORCE=1 all, STUDENT=… LAB=01 some; NBGRADER_WORKERS=N in parallel, default: cores)
	$(COURSE) grade --workers $(NBGRADER_WORKERS) $(if $(FORCE),--force) $(if $(STUDENT),--student "$(STUDENT)") $(if $(LAB),--lab "$(LAB)")

feedback: $(STAMP) ## Instructors: HTML feedback per student and lab in French, no traceback (autograded/ → feedback/)
	$(COURSE) feedback

export: $(STAMP) ## Instructors: grades.csv (student × lab, empty when not handed in) and grades-wide.csv (total /20) in build/nbgrader/; docs/lms-moodle.md
	$(COURSE) export

analytics: $(STAMP) ## Instructors: class report, score distribution and pass rate per check (build/nbgrader/rapport.html)
	$(PY) -m autograder.classroom.analytics
