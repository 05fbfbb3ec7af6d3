#include <cstdio>
int main() { std::puts("atomgrad"); return 0; }
