#!/bin/sh
# Make sure clang can build libFuzzer targets with AddressSanitizer and
# UBSan, and install what is missing on Debian when running as root:
# the clang package and the compiler-rt runtimes of the same version
# (libclang-rt-N-dev, where libFuzzer and the sanitizers live).
set -eu

# Tell whether clang links a trivial fuzz target with the sanitizers.
can_build() {
	command -v clang >/dev/null 2>&1 || return 1
	dir=$(mktemp -d)
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
		'{ (void)d; (void)n; return 0; }' > "$dir/probe.c"
	status=0
	clang -fsanitize=fuzzer,address,undefined -o "$dir/probe" \
		"$dir/probe.c" >/dev/null 2>&1 || status=1
	rm -rf "$dir"
	return $status
}

can_build && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "fuzz deps: clang cannot build libFuzzer targets; install" \
		"clang and libclang-rt-N-dev (N: clang's major version)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! command -v clang >/dev/null 2>&1; then
	echo "fuzz deps: installing clang"
	apt-get install -y -q clang
fi
major=$(clang -dumpversion | cut -d. -f1)
echo "fuzz deps: installing libclang-rt-$major-dev"
apt-get install -y -q "libclang-rt-$major-dev"
if ! can_build; then
	echo "fuzz deps: clang $major still cannot build libFuzzer targets" >&2
	exit 1
fi
