/* mountinfo.h: the one rule of /proc/self/mountinfo that every reader of
 * it needs (mhafs's mount point, mhafsck's "is this store mounted"). */
#ifndef MHAFS_MOUNTINFO_H
#define MHAFS_MOUNTINFO_H

/* Undo mountinfo's octal escapes (\040 for a space, \134 for a
 * backslash) in place. */
void mountinfo_unescape(char *s);

#endif
