/*
 * check_command: "tlsrptd check [-f]", which verifies the configuration
 * and the files of the suite and, with -f, repairs owners and modes.
 */
#ifndef TLSRPTD_CHECK_COMMAND_H
#define TLSRPTD_CHECK_COMMAND_H

/* daemon_dir is where master.cf's commands are, NULL when unknown. */
int check_command(const char *config_dir, const char *daemon_dir,
		  const char *main_cf_errors, int argc, char **argv);

#endif
