# kubemaint — `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help
KUBEMAINT_CACHE ?= $(shell scripts/cache-dir.sh)
export KUBEMAINT_CACHE
export PATH := $(KUBEMAINT_CACHE)/bin:$(HOME)/.local/bin:$(PATH)

CHAOS_DRILLS := tests/integration/service/test_service_drills.py tests/integration/service/test_service_etcd_loss.py \
  tests/integration/library/test_library_source.py tests/integration/service/test_openapi_fuzz.py \
  tests/controlplane/operator/test_operator_drills.py tests/controlplane/operator/test_operator_resilience.py \
  tests/controlplane/operator/test_operator_rbac.py tests/controlplane/operator/test_operator_security.py \
  tests/controlplane/operator/test_operator_crd.py tests/controlplane/operator/test_operator_stand_in.py \
  tests/e2e/test_story.py

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: bootstrap
bootstrap: ## Install what is missing: uv, PostgreSQL, the Python workspace, etcd, helm, the control plane
	scripts/bootstrap.sh

.PHONY: tools
tools: ## Build the pinned Go tools (etcd, helm, kube-apiserver, kube-controller-manager, kubectl) into the user's cache
	scripts/build-tools.sh

.PHONY: test
test: ## The whole test suite (what CI runs): installs, lints, type-checks, checks layering, runs every tier
	scripts/test.sh

.PHONY: chaos
chaos: ## Every fault drill: the short ones of make test and the long ones marked chaos (etcd frozen 30 s, the operator killed 20 times)
	scripts/bootstrap.sh etcd k8s && uv run --frozen pytest -m '' -s $(CHAOS_DRILLS)

.PHONY: lint
lint: ## The static checks of make test, no pytest: ruff, mypy (strict), layering, CRD copies, chart scan
	scripts/lint.sh

.PHONY: fmt
fmt: ## Format and auto-fix with ruff
	uv run ruff format . && uv run ruff check --fix .

.PHONY: unit
unit: ## Unit tests only (no servers)
	uv run pytest tests/unit

.PHONY: demo
demo: ## The main job: start the local stack (PostgreSQL, etcd, control plane, operator, service) and walk through maintenance
	scripts/demo.sh

.PHONY: demo-down
demo-down: ## Stop everything that `make demo` left running
	scripts/demo.sh down

.PHONY: cluster-up
cluster-up: ## Start a local control plane (etcd, kube-apiserver, kube-controller-manager) and print KUBECONFIG
	scripts/bootstrap.sh etcd k8s && uv run devstack up --control-plane && uv run devstack env

.PHONY: cluster-down
cluster-down: ## Stop the local control plane started by cluster-up
	uv run devstack down

.PHONY: node-up
node-up: ## Start a real single-node cluster (control plane + kubelet + containerd in namespaces of their own), import the images; print KUBECONFIG
	scripts/bootstrap.sh etcd k8s node && uv run devstack --dir .run/node up --node --no-postgres \
	  && uv run devstack --dir .run/node images >/dev/null \
	  && uv run devstack --dir .run/node env | grep KUBECONFIG && echo 'export PATH=$(KUBEMAINT_CACHE)/bin:$$PATH'

.PHONY: node-demo
node-demo: ## The stack on real pods: make node-up, the images by buildah, helm install, the NOTES' story; left running
	scripts/node-demo.sh

.PHONY: node-down
node-down: ## Stop the node, its control plane and etcd; the host is left as it was
	uv run devstack --dir .run/node down

.PHONY: chart-docs
chart-docs: ## Regenerate the charts' READMEs (values tables) with helm-docs from values.yaml's `# --` comments
	scripts/build-tools.sh helm-docs && scripts/chart-docs.sh

.PHONY: crds
crds: ## Copy the CRD from k8s/base/crd/ into the operator chart
	scripts/crd-sync.sh

.PHONY: chart-scan
chart-scan: ## Render every chart scenario and scan it with the pinned checkov (offline); fails on any finding
	scripts/chart-scan.sh

.PHONY: bench
bench: ## Run the benchmarks (print figures, write bench/out/*.json and plots; never pass/fail on speed)
	scripts/build-tools.sh etcd k8s bombardier
	for b in bench/[a-z]*.py; do echo "== $$b"; uv run python $$b || exit 1; done

.PHONY: e2e
e2e: ## The story on real pods: on kind where a Docker engine exists, else on the local node (root)
	scripts/bootstrap.sh etcd helm k8s node && uv run pytest tests/e2e -rs

.PHONY: clean
clean: ## Remove runtime state (.run/); keeps the tool cache
	rm -rf .run
