/*
 * fuzz_main_cf: libFuzzer target for the main.cf parser.
 *
 * Each input becomes main.cf in the target's private directory and is
 * loaded with config_load(), which parses it, expands $name references
 * and checks every known parameter against its type and bounds. After a
 * successful load, every parameter of the table is read through its
 * typed accessor: the accessors panic on a value that config_load() let
 * through unchecked, and the panic aborts the run as a finding.
 *
 * The same input is then loaded with config_load_with_defaults(), which
 * must return 0 exactly when config_load() succeeded, must explain every
 * other result, and after 0 or 1 (invalid values at their defaults) must
 * leave every parameter readable through its accessor.
 */
#include <stdlib.h>

#include "config.h"
#include "fuzz_support.h"
#include "strbuf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_logs();
	return 0;
}

static void read_parameter(const struct param_def *def)
{
	switch (def->type) {
	case PARAM_STR:
		(void)config_str(def->name);
		break;
	case PARAM_INT:
		(void)config_int(def->name);
		break;
	case PARAM_TIME:
		(void)config_time(def->name);
		break;
	case PARAM_SIZE:
		(void)config_size(def->name);
		break;
	case PARAM_BOOL:
		(void)config_bool(def->name);
		break;
	case PARAM_MODE:
		(void)config_mode(def->name);
		break;
	}
}

static void count_entry(const char *name, const char *value, bool is_default,
			void *context)
{
	(void)name;
	(void)value;
	(void)is_default;
	(*(size_t *)context)++;
}

static void read_every_parameter(void)
{
	size_t i;

	for (i = 0; i < param_count; i++)
		read_parameter(&param_table[i]);
}

/* Load with defaults in place of invalid values; strict_status is what
 * config_load() returned for the same input. */
static void load_with_defaults(int strict_status)
{
	struct strbuf errors;
	int status;

	strbuf_init(&errors);
	status = config_load_with_defaults(fuzz_directory(), &errors);
	if ((status == 0) != (strict_status == 0))
		abort();
	if (status != 0 && errors.len == 0)
		abort(); /* every problem must be explained */
	if (status >= 0)
		read_every_parameter();
	config_free();
	strbuf_free(&errors);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = fuzz_write_file("main.cf", data, size);
	struct strbuf error;
	size_t entries = 0;
	int status;

	strbuf_init(&error);
	status = config_load(fuzz_directory(), &error);
	if (status == 0) {
		read_every_parameter();
		config_foreach(count_entry, &entries);
		strbuf_reset(&error);
		(void)config_check_required(&error);
	} else if (error.len == 0) {
		abort(); /* every rejection must say why */
	}
	config_free();
	load_with_defaults(status);
	strbuf_free(&error);
	free(path);
	return 0;
}
