/* fuzz_driver.c: a plain main() for the libFuzzer target, so `make check`
 * runs it without clang: it feeds every truncation, every single-byte
 * corruption (each bit flip and a few values at each offset) and a random
 * splice of valid records to LLVMFuzzerTestOneInput, which aborts on any
 * accepted-but-wrong decode.  Files given as arguments are fed as well
 * (e.g. a libFuzzer crash file).  "-w DIR" writes the valid records to DIR
 * as a seed corpus instead.  Also counts that corruptions do get
 * rejected, so the test fails if the decoder accepts everything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t rec[8][1024];
static long len[8];

static void make_records(void)
{
	struct jentry e;
	for (int i = 0; i < 8; i++) {
		memset(&e, 0, sizeof(e));
		e.origin = (uint16_t)(1 + i);
		e.seq = 1000u + (unsigned)i;
		e.hlc = HLC_MAKE(1700000000000ull + (unsigned)i, (unsigned)i);
		e.path = "u/Maildir/new/1700000000.M1P2.host";
		switch (i) {
		case 0: e.op = JOP_MKDIR; e.path = "u/Maildir/cur"; break;
		case 1: e.op = JOP_UNLINK; break;
		case 2: e.op = JOP_RENAME; e.path2 = "u/Maildir/cur/x:2,S"; e.flags = JOP_RENAME_NOREPLACE; break;
		case 3: e.op = JOP_SYMLINK; e.path2 = "../elsewhere"; break;
		case 4: e.op = JOP_SETXATTR; e.xname = "user.a"; e.flags = 2; break;
		case 5: e.op = JOP_SETATTR; e.flags = 0x21; break;
		case 6: e.op = JOP_COMMIT; e.path2 = "u/Maildir/tmp/x"; break;
		default: e.op = JOP_WRITE; break;
		}
		if (i >= 4) {
			e.has_st = 1;
			e.st.st_mode = S_IFREG | 0600;
			e.st.st_size = 4096 * i;
			e.st.st_ino = 99;
			e.st.st_mtim.tv_sec = 1700000000;
			e.has_hash = 1;
			hash_buf("body", 4, &e.hash);
		}
		len[i] = jentry_encode(&e, rec[i], sizeof(rec[i]));
		if (len[i] <= 0) {
			fprintf(stderr, "fuzz_driver: cannot encode record %d\n", i);
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	static uint8_t buf[4096];
	static char sb[JENTRY_MAX_STRBUF];
	struct jentry e;
	unsigned long fed = 0, rejected = 0, corruptions = 0;

	if (argc == 3 && !strcmp(argv[1], "-w")) {
		/* write the valid records as a seed corpus for libFuzzer */
		make_records();
		for (int r = 0; r < 8; r++) {
			char path[4200];
			snprintf(path, sizeof(path), "%s/seed-%d", argv[2], r);
			FILE *f = fopen(path, "wb");
			if (!f || fwrite(rec[r], 1, (size_t)len[r], f) != (size_t)len[r]) {
				perror(path);
				return 1;
			}
			fclose(f);
		}
		return 0;
	}
	for (int a = 1; a < argc; a++) {
		FILE *f = fopen(argv[a], "rb");
		if (!f) {
			perror(argv[a]);
			return 1;
		}
		size_t n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
		fed++;
	}
	make_records();
	for (int r = 0; r < 8; r++) {
		size_t n = (size_t)len[r];
		LLVMFuzzerTestOneInput(rec[r], n); /* the valid record itself */
		for (size_t cut = 0; cut < n; cut++, fed++) {
			LLVMFuzzerTestOneInput(rec[r], cut);
			rejected += jentry_decode(rec[r], cut, &e, sb, sizeof(sb)) != 0;
		}
		for (size_t off = 0; off < n; off++) {
			static const uint8_t vals[] = { 0x00, 0x01, 0x2f, 0x2e, 0x7f, 0x80, 0xff };
			for (int k = 0; k < 8 + (int)sizeof(vals); k++) {
				memcpy(buf, rec[r], n);
				if (k < 8)
					buf[off] ^= (uint8_t)(1u << k);
				else
					buf[off] = vals[k - 8];
				if (memcmp(buf, rec[r], n) == 0)
					continue;
				LLVMFuzzerTestOneInput(buf, n);
				corruptions++;
				fed++;
			}
		}
	}
	/* Splices: the head of one record glued to the tail of another. */
	srand(7);
	for (int i = 0; i < 20000; i++, fed++) {
		int a = rand() % 8, b = rand() % 8;
		size_t ha = (size_t)(rand() % (int)len[a]), tb = (size_t)(rand() % (int)len[b]);
		memcpy(buf, rec[a], ha);
		memcpy(buf + ha, rec[b] + (size_t)len[b] - tb, tb);
		LLVMFuzzerTestOneInput(buf, ha + tb);
	}
	size_t total = 0;
	for (int r = 0; r < 8; r++)
		total += (size_t)len[r];
	printf("fuzz_driver: fed %lu inputs (%lu corruptions); all %lu truncations rejected: %s\n",
	       fed, corruptions, rejected, rejected == total ? "yes" : "NO");
	return rejected == total ? 0 : 1;
}
