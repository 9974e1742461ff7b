# Offline classroom bundle (docker/README.md, "Salle hors ligne"). Included by the Makefile.
# The logic is in autograder/tools/bundle.py; the list of images is docker/images.txt.
#   make images-export [BUNDLE=path.tar.gz] [WITH_COURSE=1]   archive + <name>.manifest.json
#   make images-import [BUNDLE=path.tar.gz] [FORCE=1]         verify (size, SHA-256), then docker load
# BUNDLE defaults to build/images/cours-conteneurisation-images-<arch>.tar.gz.

BUNDLE ?=
WITH_COURSE ?=
FORCE ?=

.PHONY: images-export images-import

images-export: docker-ready ## Write every course image to one archive + manifest (BUNDLE=path, WITH_COURSE=1 adds the course container)
	$(PY) -m autograder.tools.bundle export $(if $(BUNDLE),--output "$(BUNDLE)") $(if $(WITH_COURSE),--with-course)

images-import: docker-ready ## Offline room: load the archive of images-export (BUNDLE=path), checksum verified first
	$(PY) -m autograder.tools.bundle import $(if $(BUNDLE),"$(BUNDLE)") $(if $(FORCE),--force)
