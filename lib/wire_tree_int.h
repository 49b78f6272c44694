/* wire_tree_int.h: between wire.c and wire_tree.c: the field checks of
 * the reconciliation frames (0 or a WIRE_E* code). */
#ifndef MHAFS_WIRE_TREE_INT_H
#define MHAFS_WIRE_TREE_INT_H

#include "wire.h"

int wire_tree_check_req(const struct wire_tree_req *m);
/* Also walks and checks every item of the body. */
int wire_tree_check_resp(const struct wire_tree_resp *m);

#endif
