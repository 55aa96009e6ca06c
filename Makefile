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

.PHONY: setup demo test lint unit integration molecule bench clean

setup: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

## demo: assess the bundled demo estate and write reports/<timestamp>/
demo: setup
	ansible-playbook playbooks/assess.yml

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

integration: setup
	python -m pytest tests/integration -q

# windows-lab needs a real Windows host (molecule/windows-lab/README.md) and is not run here.
molecule: setup
	molecule test --scenario-name default
	molecule test --scenario-name remediate
	molecule test --scenario-name migrate

## bench: assess.yml on 200 generated hosts against a do-nothing play, the core on 100,000 builds,
## the hunt engine against grep and ripgrep on a generated 1.1 GB corpus, and the patch plan
## (waves of 4 DAGs x 4 + 8 standalone servers against one at a time; 5,000 servers planned), and
## the migration batch planner on 50,000 mailboxes with their permission links
bench: setup
	python tools/bench.py
	python tools/hunt_bench.py --size-mb 1100
	python tools/patch_bench.py
	python tools/migration_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
