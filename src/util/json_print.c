/*
 * json_print: compact JSON text from a cJSON tree; see json_print.h.
 */
#include <cjson/cJSON.h>

#include "json_print.h"
#include "msg.h"
#include "xalloc.h"

char *json_print_and_delete(cJSON *tree)
{
	char *text = cJSON_PrintUnformatted(tree);
	char *copy;

	cJSON_Delete(tree);
	if (text == NULL)
		msg_fatal("out of memory printing JSON");
	copy = xstrdup(text);
	cJSON_free(text);
	return copy;
}
