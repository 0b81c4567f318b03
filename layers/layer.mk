# The recipe that every layer except base shares; each layer's Makefile sets
# PROVIDED_LAYERS and DROP, then includes this file.
#
# Built by `sam build` (BuildMethod: makefile), which sets ARTIFACTS_DIR.
# Wheels only, for the Lambda runtime's Python and architecture, so the build needs no Docker.
# --no-compile: pip would compile with the build machine's Python; compile.sh uses the runtime's version.
#
# PROVIDED_LAYERS: layers whose requirements are installed into a scratch folder
#   and pruned from this one, because every function with this layer also has them.
# DROP: distributions that a requirement declares but no run-time import needs.
# requirements-no-deps.txt, when present, is installed without dependencies.
PYTHON_VERSION ?= 3.13
LAYERS_DIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
PIP_TARGET_OPTIONS = --quiet --no-compile --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --implementation cp --python-version $(PYTHON_VERSION) --only-binary=:all:
SCRATCH = $(ARTIFACTS_DIR)/../.provided-$(notdir $(ARTIFACTS_DIR))

define build-layer
pip install $(PIP_TARGET_OPTIONS) --target "$(ARTIFACTS_DIR)/python" -r requirements.txt
if [ -f requirements-no-deps.txt ]; then pip install $(PIP_TARGET_OPTIONS) --no-deps --target "$(ARTIFACTS_DIR)/python" -r requirements-no-deps.txt; fi
rm -rf "$(SCRATCH)"
$(foreach layer,$(PROVIDED_LAYERS),pip install $(PIP_TARGET_OPTIONS) --target "$(SCRATCH)/$(layer)" -r "$(LAYERS_DIR)/$(layer)/requirements.txt"
)
python3 "$(LAYERS_DIR)/prune.py" "$(ARTIFACTS_DIR)/python" $(foreach layer,$(PROVIDED_LAYERS),"$(SCRATCH)/$(layer)") $(foreach name,$(DROP),--drop $(name))
rm -rf "$(SCRATCH)"
"$(LAYERS_DIR)/compile.sh" $(PYTHON_VERSION) "$(ARTIFACTS_DIR)/python"
endef
