/* The registry of device classes the emulated host can offer. */
#include <string.h>

#include "hvm.h"

extern const struct hdev_class htdev_class;

static const struct hdev_class *const hdev_classes[] = {
	&htdev_class,
};

const struct hdev_class *hdev_class_find(const char *name)
{
	for (size_t i = 0; i < VMB_ARRAY_LEN(hdev_classes); i++)
		if (strcmp(hdev_classes[i]->name, name) == 0)
			return hdev_classes[i];
	return NULL;
}
