#!/usr/bin/env sh
# Print the project's tool cache: $KUBEMAINT_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/kubemaint.
# The one definition that the scripts and the Makefile use (kubemaint_devstack.tools.cache_dir mirrors it).
printf '%s\n' "${KUBEMAINT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubemaint}"
