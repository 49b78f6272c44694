/* main.c: placeholder until the FUSE daemon lands. */
int main(void) { return 0; }
