/*
 * json_print: print a cJSON tree as compact JSON and delete the tree.
 *
 * cJSON allocates its output with its own hooks, which the receiver
 * replaces with an arena. The text is therefore copied into malloc()
 * memory, which the caller releases with free().
 */
#ifndef TLSRPTD_JSON_PRINT_H
#define TLSRPTD_JSON_PRINT_H

#include <cjson/cJSON.h>

char *json_print_and_delete(cJSON *tree);

#endif
