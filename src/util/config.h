/*
 * config: main.cf, read the way Postfix reads its main.cf.
 *
 * Syntax: "name = value" lines; a line whose first non-blank character is
 * '#' is a comment; a line that starts with white space continues the
 * previous one. Values may refer to other parameters as $name, ${name} or
 * $(name), and "$$" is a literal dollar sign. Every known parameter is
 * declared once, with its type, default and bounds, in params.c; a
 * parameter the table does not know is reported as a warning and may still
 * be used in $name expansion.
 *
 * The configuration is process-wide, as in Postfix. config_load() replaces
 * it, applying the "name=value" overrides recorded with config_override()
 * (master.cf -o options) after the file; strings returned by config_str()
 * stay valid until the next config_load() or config_free(). A load that
 * fails keeps the configuration in use.
 *
 * A load does not stop at an invalid value or at a line that is not
 * "name = value". It reports each one, puts the parameter back to its
 * default or skips the line, and reads on, so that one run lists every
 * such problem, in the order of the lines of main.cf. config_load() and
 * config_load_validated() then fail with one problem per line in error,
 * separated by '\n'. A parameter name is letters, digits and "_", and
 * for a name with "-" the message suggests the known parameter with "_"
 * in its place. Problems that end the load at once, after the lines read
 * before them: main.cf cannot be read, a NUL byte, a logical line longer
 * than 65536 bytes, an invalid -o option, or a default that fails to
 * expand.
 *
 * config_load_validated() also runs a check of the loaded values (such
 * as config_values_check()) and keeps the old configuration when it
 * fails, as the master does on reload. The check also runs after an
 * invalid value, with that parameter at its default, and its errors
 * follow those of main.cf.
 *
 * config_load_relaxed() is for commands that must work despite a typo
 * (stop, status, queue listing): each problem becomes one line of
 * warnings ("FILE line N: ...; using the default for this command" or
 * "...; ignoring this line for this command", each line ending in '\n')
 * and the load succeeds.
 *
 * config_load_with_defaults() is for "tlsrptd check" and "tlsrptd
 * start", which must print every problem. Each problem is a line of
 * errors. The configuration with defaults in place of the invalid values
 * is put in use, so that the caller can still run config_values_check()
 * on it, and the result is 1. The caller must not run the suite with
 * that configuration. The result is 0 when main.cf has no problem. config_load_relaxed() and config_load_with_defaults()
 * fail (-1, keeping the old configuration) only on a problem that ends
 * the load at once.
 *
 * Errors name the file and line: "/etc/tlsrptd/main.cf line 12: ...".
 */
#ifndef TLSRPTD_CONFIG_H
#define TLSRPTD_CONFIG_H

#include <stdbool.h>
#include <sys/types.h>

#include "strbuf.h"

#define CONFIG_DEFAULT_DIR_ENV	"TLSRPTD_CONFIG"

enum param_type {
	PARAM_STR,		/* free text */
	PARAM_INT,		/* decimal integer within min..max */
	PARAM_TIME,		/* seconds; units s, m, h, d, w accepted */
	PARAM_SIZE,		/* bytes; units k, m, g (powers of 1024) */
	PARAM_BOOL,		/* yes or no */
	PARAM_MODE,		/* octal file mode */
};

struct param_def {
	const char *name;
	enum param_type type;
	const char *def;	/* default, before $name expansion */
	long long min;		/* bounds for numeric types */
	long long max;
	bool required;		/* the suite refuses to start without it */
};

extern const struct param_def param_table[];
extern const size_t param_count;

const struct param_def *param_find(const char *name);

int config_load(const char *config_dir, struct strbuf *error);
int config_load_validated(const char *config_dir,
			  int (*validate)(struct strbuf *error),
			  struct strbuf *error);
int config_load_relaxed(const char *config_dir, struct strbuf *warnings,
			struct strbuf *error);
int config_load_with_defaults(const char *config_dir, struct strbuf *errors);

/* Log each problem of a failed load (one per line of problems) as an
 * error, then stop the program with a line that names config_dir. */
_Noreturn void config_fatal(const char *config_dir, const char *problems);
int config_override(const char *assignment, struct strbuf *error);
int config_check_required(struct strbuf *error);
void config_free(void);

const char *config_directory(void);
const char *config_str(const char *name);
long long config_int(const char *name);
long long config_time(const char *name);
long long config_size(const char *name);
bool config_bool(const char *name);
mode_t config_mode(const char *name);
bool config_is_set(const char *name);

/* Where the value of name comes from: "FILE line N", "-o option" or
 * "default". */
const char *config_source(const char *name);
void config_foreach(void (*visit)(const char *name, const char *value,
				  bool is_default, void *context),
		    void *context);

int config_parse_number(const struct param_def *def, const char *value,
			long long *result);

#endif
