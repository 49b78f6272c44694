/* mhactl.h: the commands of mhactl that live outside mhactl.c. */
#ifndef MHAFS_MHACTL_H
#define MHAFS_MHACTL_H

#include <stdio.h>

struct config;
int mhactl_ask(const char *sock, const char *cmd, FILE *out);
int cmd_status(const struct config *cfg, int argc, char **argv);
int cmd_peer(const struct config *cfg, int argc, char **argv);
/* mhactl_balance.c */
int cmd_user(const struct config *cfg, int argc, char **argv);
int cmd_drain(const struct config *cfg, int argc, char **argv); /* drain and undrain */
void balance_status(const struct config *cfg, FILE *out);
/* mhactl_queue.c: the Postfix queue lines (queue_on_store = yes). */
void queue_status(const struct config *cfg, FILE *out);
/* mhactl_json.c: the status lines in text (changed in place) as JSON. */
int status_json(char *text, FILE *out);

#endif
