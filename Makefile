# exchange-remediation: every target sets up its own virtual environment first.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.requirements-installed

# Tools from the venv come first; ansible.cfg in this folder configures every ansible command.
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# ansible-lint and molecule must not reach for Galaxy or the network.
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH := true
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup browser demo nightly new-client test lint unit integration molecule bench clean

setup: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

# The report's browser test renders report.html in Debian's Chromium (no download from elsewhere).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the report's browser test"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

## demo: assess the bundled demo estate and write reports/<timestamp>/
demo: setup
	ansible-playbook playbooks/assess.yml

## nightly: the nightly job (make nightly CLIENT=acme; PATCH=1 patches inside the client's window);
## without CLIENT it runs on the demo estate, which is compromised: it ends with exit status 2
nightly: setup
ifdef CLIENT
	python tools/client_check.py inventories/$(CLIENT)
	ansible-playbook playbooks/nightly.yml -i inventories/$(CLIENT) $(if $(PATCH),-e exchange_nightly_patch=true)
else
	ansible-playbook playbooks/nightly.yml $(if $(PATCH),-e exchange_nightly_patch=true)
endif

## new-client: scaffold inventories/NAME/ for an MSP client (make new-client NAME=acme)
new-client: setup
	@test -n "$(NAME)" || { echo "usage: make new-client NAME=acme" >&2; exit 2; }
	python tools/new_client.py "$(NAME)"

## test: lint, unit, integration and molecule, the whole suite
test: lint unit integration molecule

lint: setup
	ruff check .
	yamllint --strict .
	ansible-lint --offline
	python tools/check_task_args.py
	python tools/check_powershell.py

unit: setup
	python -m pytest tests/unit -q

integration: setup browser
	python -m pytest tests/integration -q

# windows-lab needs a real Windows host (molecule/windows-lab/README.md) and is not run here.
molecule: setup
	molecule test --scenario-name default
	molecule test --scenario-name remediate
	molecule test --scenario-name migrate

## bench: assess.yml on 200 generated hosts against a do-nothing play, the core on 100,000 builds,
## the hunt engine against grep and ripgrep on a generated 1.1 GB corpus, and the patch plan
## (waves of 4 DAGs x 4 + 8 standalone servers against one at a time; 5,000 servers planned), and
## the migration batch planner on 50,000 mailboxes with their permission links, and the nightly
## reports (drift, policy, dashboard, server pages, STIX and CSV) of 1,200 servers against report.json alone
bench: setup
	python tools/bench.py
	python tools/hunt_bench.py --size-mb 1100
	python tools/patch_bench.py
	python tools/migration_bench.py
	python tools/report_bench.py --servers 1200

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
