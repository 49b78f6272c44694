/* mhafs-keygen: cluster credentials with OpenSSL's library.
 *   mhafs-keygen ca DIR            DIR/ca.pem, DIR/ca.key (EC P-256, 10 years)
 *   mhafs-keygen node DIR NAME     DIR/NAME.pem, DIR/NAME.key signed by DIR/ca.*
 *                                  (CN=NAME, subjectAltName DNS:NAME, 2 years)
 *   mhafs-keygen cluster-key FILE  32 random bytes as hex (heartbeat HMAC key)
 * Private keys are written 0600; existing files are never overwritten.
 * Exit status: 0 done, 1 failure, 2 usage error. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "wire.h"

#define CA_DAYS 3650
#define NODE_DAYS 730
#define BACKDATE_SECS 3600 /* tolerate peers whose clocks run a little behind */

static const char *prog = "mhafs-keygen";

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;
	unsigned long e;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if ((e = ERR_get_error()) != 0) {
		char buf[256];
		ERR_error_string_n(e, buf, sizeof(buf));
		fprintf(stderr, " (%s)", buf);
	}
	fputc('\n', stderr);
	ERR_clear_error();
}

static int usage(void)
{
	fprintf(stderr,
		"usage: %s ca DIR\n"
		"       %s node DIR NAME\n"
		"       %s cluster-key FILE\n"
		"NAME: the node's name as in mhafs.conf, [A-Za-z0-9._-]{1,63}, not \"ca\"\n",
		prog, prog, prog);
	return 2;
}

static char *path_join(const char *dir, const char *name, const char *suffix)
{
	size_t n = strlen(dir) + strlen(name) + strlen(suffix) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s%s", dir, name, suffix);
	return p;
}

/* Refuse to go on if path exists (or cannot be checked). */
static int must_not_exist(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0) {
		fail("%s already exists; refusing to overwrite it", path);
		return -1;
	}
	if (errno != ENOENT) {
		fail("%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Create path exclusively with mode and let write_fn fill it; fsync.  On
 * any failure the half-written file is removed. */
static int write_new(const char *path, mode_t mode, int (*write_fn)(FILE *, const void *), const void *arg)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	FILE *f;

	if (fd < 0) {
		fail(errno == EEXIST ? "%s already exists; refusing to overwrite it" : "cannot create %s: %s",
		     path, strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode) != 0 || !(f = fdopen(fd, "w"))) {
		fail("cannot set up %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	errno = 0;
	if (!write_fn(f, arg) || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fail("cannot write %s: %s", path, errno ? strerror(errno) : "encoding failed");
		fclose(f);
		unlink(path);
		return -1;
	}
	if (fclose(f) != 0) {
		fail("cannot write %s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

/* Make the new directory entries of path's directory durable too. */
static int sync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = -1;

	if (!copy) {
		fail("out of memory");
		return -1;
	}
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && fsync(fd) == 0)
		rc = 0;
	else
		fail("cannot sync the directory of %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(copy);
	return rc;
}

static int put_key(FILE *f, const void *k)
{
	return PEM_write_PrivateKey(f, (EVP_PKEY *)k, NULL, NULL, 0, NULL, NULL);
}

static int put_cert(FILE *f, const void *x)
{
	return PEM_write_X509(f, (X509 *)x);
}

static int put_hex(FILE *f, const void *s)
{
	return fputs((const char *)s, f) >= 0;
}

/* Write key (0600) then cert (0644); all or nothing. */
static int write_pair(const char *key_path, EVP_PKEY *key, const char *cert_path, X509 *cert)
{
	if (must_not_exist(key_path) || must_not_exist(cert_path))
		return -1;
	if (write_new(key_path, 0600, put_key, key))
		return -1;
	if (write_new(cert_path, 0644, put_cert, cert)) {
		unlink(key_path);
		return -1;
	}
	return sync_dir_of(cert_path);
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return 0;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* A new certificate for key, named cn, valid for days (backdated an hour),
 * with a random 128-bit serial; not yet signed. */
static X509 *new_cert(EVP_PKEY *key, const char *cn, long days)
{
	X509 *x = X509_new();
	unsigned char rnd[16];
	BIGNUM *bn = NULL;
	int ok = 0;

	if (!x)
		return NULL;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		goto out;
	rnd[0] &= 0x7f; /* positive */
	rnd[0] |= 0x40; /* and not short */
	bn = BN_bin2bn(rnd, sizeof(rnd), NULL);
	ok = bn && X509_set_version(x, X509_VERSION_3) &&
	     BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) &&
	     X509_gmtime_adj(X509_getm_notBefore(x), -BACKDATE_SECS) &&
	     X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) &&
	     X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
					(const unsigned char *)cn, -1, -1, 0) &&
	     X509_set_pubkey(x, key);
out:
	BN_free(bn);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static EVP_PKEY *new_key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static int ensure_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) == 0)
		return 0;
	if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	fail("%s: %s", dir, errno == EEXIST ? "not a directory" : strerror(errno));
	return -1;
}

static int cmd_ca(const char *dir)
{
	char *kp = path_join(dir, "ca", ".key"), *cp = path_join(dir, "ca", ".pem");
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	unsigned char id[4];
	char cn[64];
	int rc = 1;

	if (!kp || !cp) {
		fail("out of memory");
		goto out;
	}
	if (ensure_dir(dir) || must_not_exist(kp) || must_not_exist(cp))
		goto out;
	if (RAND_bytes(id, sizeof(id)) != 1) {
		fail("no random bytes");
		goto out;
	}
	/* A random suffix tells two clusters' CAs apart in error messages. */
	snprintf(cn, sizeof(cn), "mhafs cluster CA %02x%02x%02x%02x", id[0], id[1], id[2], id[3]);
	if (!(key = new_key()) || !(x = new_cert(key, cn, CA_DAYS))) {
		fail("cannot generate the CA key and certificate");
		goto out;
	}
	if (!X509_set_issuer_name(x, X509_get_subject_name(x)) ||
	    !add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    !add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    !add_ext(x, x, NID_subject_key_identifier, "hash") || !X509_sign(x, key, EVP_sha256())) {
		fail("cannot build the CA certificate");
		goto out;
	}
	if (write_pair(kp, key, cp, x))
		goto out;
	printf("%s: wrote %s and %s (%s, %d days)\n", prog, cp, kp, cn, CA_DAYS);
	rc = 0;
out:
	X509_free(x);
	EVP_PKEY_free(key);
	free(kp);
	free(cp);
	return rc;
}

/* Load DIR/ca.pem and DIR/ca.key and check they belong together. */
static int load_ca(const char *dir, X509 **cert, EVP_PKEY **key)
{
	char *kp = path_join(dir, "ca", ".key"), *cp = path_join(dir, "ca", ".pem");
	FILE *f;
	int rc = -1;

	*cert = NULL;
	*key = NULL;
	if (!kp || !cp) {
		fail("out of memory");
		goto out;
	}
	if (!(f = fopen(cp, "r"))) {
		fail("cannot read %s: %s (make the CA first: %s ca %s)", cp, strerror(errno), prog, dir);
		goto out;
	}
	*cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!*cert) {
		fail("%s is not a PEM certificate", cp);
		goto out;
	}
	if (!(f = fopen(kp, "r"))) {
		fail("cannot read %s: %s", kp, strerror(errno));
		goto out;
	}
	*key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!*key) {
		fail("%s is not a PEM private key", kp);
		goto out;
	}
	if (X509_check_private_key(*cert, *key) != 1) {
		fail("%s does not match %s", kp, cp);
		goto out;
	}
	if (X509_check_ca(*cert) == 0) {
		fail("%s is not a CA certificate", cp);
		goto out;
	}
	rc = 0;
out:
	if (rc) {
		X509_free(*cert);
		EVP_PKEY_free(*key);
		*cert = NULL;
		*key = NULL;
	}
	free(kp);
	free(cp);
	return rc;
}

static int cmd_node(const char *dir, const char *name)
{
	char *kp = NULL, *cp = NULL, san[WIRE_NAME_MAX + 8];
	EVP_PKEY *key = NULL, *ca_key = NULL;
	X509 *x = NULL, *ca = NULL;
	int rc = 1;

	if (!wire_name_valid(name) || strcmp(name, "ca") == 0) {
		fail("invalid node name '%s': use 1 to 63 of A-Z a-z 0-9 . _ - (and not \"ca\")", name);
		return 2;
	}
	kp = path_join(dir, name, ".key");
	cp = path_join(dir, name, ".pem");
	if (!kp || !cp) {
		fail("out of memory");
		goto out;
	}
	if (must_not_exist(kp) || must_not_exist(cp) || load_ca(dir, &ca, &ca_key))
		goto out;
	snprintf(san, sizeof(san), "DNS:%s", name);
	if (!(key = new_key()) || !(x = new_cert(key, name, NODE_DAYS))) {
		fail("cannot generate the node key and certificate");
		goto out;
	}
	if (!X509_set_issuer_name(x, X509_get_subject_name(ca)) ||
	    !add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") ||
	    !add_ext(x, ca, NID_key_usage, "critical,digitalSignature") ||
	    !add_ext(x, ca, NID_ext_key_usage, "serverAuth,clientAuth") ||
	    !add_ext(x, ca, NID_subject_alt_name, san) ||
	    !add_ext(x, ca, NID_subject_key_identifier, "hash") ||
	    !add_ext(x, ca, NID_authority_key_identifier, "keyid:always") ||
	    !X509_sign(x, ca_key, EVP_sha256())) {
		fail("cannot build the certificate for %s", name);
		goto out;
	}
	if (write_pair(kp, key, cp, x))
		goto out;
	printf("%s: wrote %s and %s for node %s (%d days)\n", prog, cp, kp, name, NODE_DAYS);
	rc = 0;
out:
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	free(kp);
	free(cp);
	return rc;
}

static int cmd_cluster_key(const char *file)
{
	unsigned char k[32];
	char hex[sizeof(k) * 2 + 2];

	if (must_not_exist(file))
		return 1;
	if (RAND_priv_bytes(k, sizeof(k)) != 1) {
		fail("no random bytes");
		return 1;
	}
	for (size_t i = 0; i < sizeof(k); i++)
		snprintf(hex + 2 * i, 3, "%02x", k[i]);
	strcat(hex, "\n");
	OPENSSL_cleanse(k, sizeof(k));
	if (write_new(file, 0600, put_hex, hex)) {
		OPENSSL_cleanse(hex, sizeof(hex));
		return 1;
	}
	OPENSSL_cleanse(hex, sizeof(hex));
	if (sync_dir_of(file))
		return 1;
	printf("%s: wrote %s (256-bit key)\n", prog, file);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage();
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "ca") == 0)
		return cmd_ca(argv[2]);
	if (argc == 4 && strcmp(argv[1], "node") == 0)
		return cmd_node(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "cluster-key") == 0)
		return cmd_cluster_key(argv[2]);
	return usage();
}
