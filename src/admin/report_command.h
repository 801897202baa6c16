/*
 * report_command: "tlsrptd report --day D [--dry-run DIR]".
 */
#ifndef TLSRPTD_REPORT_COMMAND_H
#define TLSRPTD_REPORT_COMMAND_H

int report_command(int argc, char **argv);

#endif
