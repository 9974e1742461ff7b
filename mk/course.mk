# The course container (docker/course/): JupyterLab, the course's Python dependencies, the Docker
# CLI and Compose v2, for students who prefer not to install Python. Included by the Makefile.
# Neither target needs Python on the host: only Docker with Compose v2, bash and make.

COURSE_COMPOSE := docker compose -f docker/course/compose.yaml

.PHONY: course-image course-container

course-image: ## Build the course container's image (JupyterLab + Docker CLI; docker/course/)
	bash docker/course/build.sh

# COURSE_DIR: the repository is mounted at the same absolute path as on the host (see compose.yaml).
course-container: course-image ## JupyterLab in a container on this repository, with the host's Docker (Ctrl-C stops it)
	COURSE_DIR="$(CURDIR)" $(COURSE_COMPOSE) up --remove-orphans
