# Students hand in a lab with one command. Included by the Makefile.
# The logic is in autograder/classroom/handin.py: the archive rendu-NN-slug.zip is written at the repository
# root, in the layout `make collect` reads (<étudiant>/<NN-slug>/…), .env, secrets and build
# output left out, and checked before it is written.
#   make handin LAB=01 [ETUDIANT=prenom.nom]   (without ETUDIANT: git config user.email, printed)

ETUDIANT ?=

.PHONY: handin

handin: $(STAMP) ## Students: make handin LAB=01 [ETUDIANT=prenom.nom] writes rendu-NN-slug.zip to upload to the LMS
	@test -n "$(LAB)" || { echo "Usage : make handin LAB=01 ETUDIANT=prenom.nom   (numéro du TP)"; exit 2; }
	@$(PY) -m autograder.classroom.handin "$(LAB)" $(if $(ETUDIANT),--etudiant "$(ETUDIANT)") || exit 2
