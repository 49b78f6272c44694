/* mhactl_queue.c: the Postfix queue lines of "mhactl status" when
 * queue_on_store = yes (mhafs-queue(8)).  Read straight from the store,
 * from the files mhafs-queue keeps in mount_point/.mhafs-queue/NODE/:
 *   queue_messages      queue files in this node's own area (- if none)
 *   queue_taken_over    "no", or the first line of the peer's TAKEOVER
 *                       marker in this node's area
 * and for each other node's area whose TAKEOVER marker names this node:
 *   takeover            that node
 *   takeover_since      when (the marker's time)
 *   takeover_messages   messages in its queue at the takeover
 *   takeover_left       messages still in its queue
 * The same names and meanings as mhafs-queue status (which also says
 * whether the takeover instance runs). */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "mhactl.h"

#define QUEUE_AREA ".mhafs-queue"

/* Postfix's mail queues (not its logs): what mhafs-queue counts. */
static const char *const mail_queues[] = { "incoming", "active", "deferred", "hold", "maildrop" };

/* Queue IDs (file names), as read. */
struct idlist {
	char **v;
	size_t n, cap;
};

/* Append the queue IDs under dir, through Postfix's hashed
 * subdirectories, to l; -1 when out of memory. */
static int collect_ids(const char *dir, int depth, struct idlist *l)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		struct stat st;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path) ||
		    lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth < 4) {
			rc = collect_ids(path, depth + 1, l);
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		if (l->n == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 64;
			char **v = realloc(l->v, cap * sizeof(*v));
			if (!v) {
				rc = -1;
				break;
			}
			l->v = v;
			l->cap = cap;
		}
		if (!(l->v[l->n] = strdup(e->d_name)))
			rc = -1;
		else
			l->n++;
	}
	closedir(d);
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Messages queued in an area, or -1 if it is not there (or out of
 * memory).  Counted by queue ID, as mhafs-queue counts: qmgr moving a file
 * from active to deferred while the queues are read would otherwise count
 * it in both. */
static long area_messages(const char *area)
{
	struct stat st;
	if (stat(area, &st) < 0 || !S_ISDIR(st.st_mode))
		return -1;
	struct idlist l = { 0 };
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < sizeof(mail_queues) / sizeof(mail_queues[0]); i++) {
		char q[4096];
		if (snprintf(q, sizeof(q), "%s/%s", area, mail_queues[i]) < (int)sizeof(q))
			rc = collect_ids(q, 0, &l);
	}
	long n = 0;
	if (rc == 0 && l.n) {
		qsort(l.v, l.n, sizeof(*l.v), cmp_names);
		n = 1;
		for (size_t i = 1; i < l.n; i++)
			n += strcmp(l.v[i - 1], l.v[i]) != 0;
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i]);
	free(l.v);
	return rc < 0 ? -1 : n;
}

/* The marker of an area: its first line ("taken over by NODE at TIME")
 * and its count ("messages N"); 0, or -1 if there is none. */
static int read_marker(const char *area, char *first, size_t firstlen, char *messages, size_t msglen)
{
	char path[4096], line[512];
	if (snprintf(path, sizeof(path), "%s/TAKEOVER", area) >= (int)sizeof(path))
		return -1;
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	first[0] = '\0';
	snprintf(messages, msglen, "-");
	for (int ln = 0; fgets(line, sizeof(line), f); ln++) {
		line[strcspn(line, "\n")] = '\0';
		if (ln == 0)
			snprintf(first, firstlen, "%s", line);
		else if (!strncmp(line, "messages ", 9))
			snprintf(messages, msglen, "%.20s", line + 9);
	}
	fclose(f);
	return 0;
}

void queue_status(const struct config *cfg, FILE *out)
{
	if (!cfg->queue_on_store || !cfg->mount_point || !cfg->node_name)
		return;
	char root[4096], area[4096], first[512], messages[64];
	if (snprintf(root, sizeof(root), "%s/%s", cfg->mount_point, QUEUE_AREA) >= (int)sizeof(root))
		return;
	long n = -1;
	if (snprintf(area, sizeof(area), "%s/%s", root, cfg->node_name) < (int)sizeof(area))
		n = area_messages(area);
	if (n < 0)
		fprintf(out, "queue_messages=-\n");
	else
		fprintf(out, "queue_messages=%ld\n", n);
	fprintf(out, "queue_taken_over=%s\n",
		n >= 0 && read_marker(area, first, sizeof(first), messages, sizeof(messages)) == 0 && first[0] ? first : "no");

	/* the areas this node holds: their marker names it */
	char mine[512];
	snprintf(mine, sizeof(mine), "taken over by %s at ", cfg->node_name);
	struct dirent **names = NULL;
	int k = scandir(root, &names, NULL, alphasort);
	for (int i = 0; i < k; i++) {
		const char *node = names[i]->d_name;
		if (node[0] != '.' && strcmp(node, cfg->node_name) &&
		    snprintf(area, sizeof(area), "%s/%s", root, node) < (int)sizeof(area) &&
		    read_marker(area, first, sizeof(first), messages, sizeof(messages)) == 0 &&
		    !strncmp(first, mine, strlen(mine))) {
			fprintf(out, "takeover=%s\n", node);
			fprintf(out, "takeover_since=%s\n", first + strlen(mine));
			fprintf(out, "takeover_messages=%s\n", messages);
			n = area_messages(area);
			if (n < 0)
				fprintf(out, "takeover_left=-\n");
			else
				fprintf(out, "takeover_left=%ld\n", n);
		}
		free(names[i]);
	}
	free(names);
}
