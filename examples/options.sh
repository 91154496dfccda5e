# shellcheck shell=bash
# SPDX-License-Identifier: ISC
# The checks of the example scripts' options, sourced by them (prog is the
# script's name).

# num OPTION VALUE MIN: VALUE is a whole number >= MIN (at most 6 digits),
# or a usage error (exit 2).
num() {
	# shellcheck disable=SC2154 # prog: the sourcing script's name
	if ! [[ $2 =~ ^[0-9]+$ ]] || [ "${#2}" -gt 6 ] || [ "$2" -lt "$3" ]; then
		echo "$prog: $1: want a whole number >= $3" >&2
		exit 2
	fi
}
