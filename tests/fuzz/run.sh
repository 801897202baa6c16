#!/bin/sh
# Run every libFuzzer target that "make fuzz" built, each for a bounded
# time, and fail if any of them finds a crash, a leak, a timeout or an
# out-of-memory condition.
#
# usage: tests/fuzz/run.sh [TARGET...]     (default: every build/fuzz/fuzz_*)
#
# Settings, from the environment:
#   FUZZ_SECONDS  seconds per target (default 30)
#   FUZZ_JOBS     targets run at the same time (default 2)
#   FUZZ_TIMEOUT  seconds one input may take before it counts as a hang
#                 (default 10)
#   FUZZ_RSS_MB   memory limit per target in MiB (default 1024)
#   FUZZ_BUILD    where the targets are (default build/fuzz)
#   FUZZ_SEED     seed of libFuzzer's random choices (default: a new one
#                 each run). With a seed, a run on the same corpus tries
#                 the same inputs again, up to where its time ends.
#
# Each target works on a fresh copy of tests/fuzz/corpus/TARGET under
# FUZZ_BUILD/work/TARGET, so the checked-in corpus never changes. New
# inputs that the run finds stay there for "-merge=1" by hand. A failing input
# is saved in that directory as crash-*, leak-*, timeout-* or oom-*, and
# the script prints the command that reproduces it.
set -eu
cd "$(dirname "$0")/../.."

seconds=${FUZZ_SECONDS:-30}
jobs=${FUZZ_JOBS:-2}
timeout=${FUZZ_TIMEOUT:-10}
rss_mb=${FUZZ_RSS_MB:-1024}
build=${FUZZ_BUILD:-build/fuzz}
seed_option=""
if [ -n "${FUZZ_SEED:-}" ]; then
	seed_option="-seed=$FUZZ_SEED"
fi

if [ $# -gt 0 ]; then
	targets=$*
else
	targets=$(cd "$build" && ls fuzz_* 2>/dev/null | grep -v '\.d$' || true)
fi
if [ -z "$targets" ]; then
	echo "fuzz: no targets in $build; run \"make fuzz\" first" >&2
	exit 1
fi

# Print the dictionaries that suit target: file formats share theirs.
dictionaries() {
	case $1 in
	datagram) echo json ;;
	batch_file | summary_file) echo qrec json ;;
	delivery_file | qrec | request_file) echo qrec ;;
	*) echo "$1" ;;
	esac
}

# Print the libFuzzer options that target $1 needs besides the common
# ones. The datagram target may grow inputs past the default of 4096
# bytes, up to beyond the 8192-octet limit of the "pr" record.
options() {
	case $1 in
	datagram) echo "-max_len=10000" ;;
	esac
}

# Write the dictionary of target $1 to $2; main.cf also gets every
# parameter name that src/util/params.c declares.
make_dictionary() {
	: > "$2"
	for dictionary in $(dictionaries "$1"); do
		if [ -f "tests/fuzz/dict/$dictionary.dict" ]; then
			cat "tests/fuzz/dict/$dictionary.dict" >> "$2"
		fi
	done
	if [ "$1" = main_cf ]; then
		sed -n 's/^[[:space:]]*[A-Z]*("\([a-z_0-9]*\)".*/"\1"/p' \
			src/util/params.c >> "$2"
	fi
}

# Run target $1 and leave its exit status in work/$1/status.
run_target() {
	name=${1#fuzz_}
	work=$build/work/$name
	rm -rf "$work"
	mkdir -p "$work/corpus"
	if [ -d "tests/fuzz/corpus/$name" ]; then
		cp -R "tests/fuzz/corpus/$name/." "$work/corpus/"
	fi
	make_dictionary "$name" "$work/dict"
	dict_option=""
	if [ -s "$work/dict" ]; then
		dict_option="-dict=$work/dict"
	fi
	status=0
	"$build/$1" -max_total_time="$seconds" -timeout="$timeout" \
		-rss_limit_mb="$rss_mb" -print_final_stats=1 \
		-artifact_prefix="$work/" $dict_option $seed_option \
		$(options "$name") \
		"$work/corpus" \
		> "$work/log" 2>&1 || status=$?
	echo "$status" > "$work/status"
}

# Report the result of target $1; return 1 if it failed.
report_target() {
	name=${1#fuzz_}
	work=$build/work/$name
	status=$(cat "$work/status")
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
	if [ "$status" = 0 ]; then
		echo "fuzz: $1: passed, ${runs:-?} inputs in ${seconds}s"
		return 0
	fi
	echo "fuzz: $1: FAILED with status $status; the end of $work/log:"
	tail -n 40 "$work/log" | sed 's/^/    /'
	for artifact in "$work"/crash-* "$work"/leak-* "$work"/timeout-* \
		"$work"/oom-* "$work"/slow-unit-*; do
		[ -e "$artifact" ] || continue
		echo "fuzz: $1: reproduce with: $build/$1 $artifact"
	done
	return 1
}

failed=0
set -- $targets
while [ $# -gt 0 ]; do
	batch=""
	count=0
	while [ $# -gt 0 ] && [ "$count" -lt "$jobs" ]; do
		batch="$batch $1"
		count=$((count + 1))
		shift
	done
	for target in $batch; do
		run_target "$target" &
	done
	wait
	for target in $batch; do
		report_target "$target" || failed=1
	done
done

if [ "$failed" != 0 ]; then
	echo "fuzz: at least one target failed; see above" >&2
	exit 1
fi
echo "fuzz: every target passed"
