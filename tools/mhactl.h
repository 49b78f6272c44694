/* mhactl.h: the commands of mhactl that live outside mhactl.c. */
#ifndef MHAFS_MHACTL_H
#define MHAFS_MHACTL_H

#include <stdio.h>

struct config;
int mhactl_ask(const char *sock, const char *cmd, FILE *out);
int cmd_status(const struct config *cfg, int argc, char **argv);
int cmd_peer(const struct config *cfg, int argc, char **argv);

#endif
