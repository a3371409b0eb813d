/* Kernel-set dispatch: what the CPU runs, what ASIM_KERNEL asks for, and the function table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define ASIM_X86 1
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

const char *asim_isa_name(asim_isa isa) {
  switch (isa) {
  case ASIM_ISA_SCALAR: return "scalar";
  case ASIM_ISA_AVX2: return "avx2";
  case ASIM_ISA_AVX512: return "avx512";
  case ASIM_ISA_AMX: return "amx";
  }
  return "?";
}

asim_status asim_isa_parse(const char *s, asim_isa *isa) {
  for (int i = ASIM_ISA_SCALAR; i <= ASIM_ISA_AMX; i++)
    if (!strcmp(s, asim_isa_name((asim_isa)i))) {
      *isa = (asim_isa)i;
      return ASIM_OK;
    }
  return ASIM_ERR(ASIM_EINVAL, "kernel '%s': must be amx, avx512, avx2 or scalar", s);
}

#ifdef ASIM_X86
/* The OS must save the extended register state (XCR0) for AVX and AVX-512 to be usable. */
static int os_saves(unsigned mask) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0; /* OSXSAVE */
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (lo & mask) == mask;
}

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

int asim_amx_enable(void) {
  static int state = -1; /* the permission is per process: ask once */
  if (state < 0) {
#if defined(ASIM_HAVE_AMX)
    unsigned a, b, c, d;
    int cpu = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 24)) && (d & (1u << 22)) && (d & (1u << 25)); /* AMX-TILE, -BF16, -INT8 */
    state = cpu && syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
    state = 0;
#endif
  }
  return state;
}
#else
int asim_amx_enable(void) { return 0; }
#endif

int asim_isa_available(asim_isa isa) {
  switch (isa) {
  case ASIM_ISA_SCALAR: return 1;
#ifdef ASIM_X86
  case ASIM_ISA_AVX2:
#if defined(ASIM_HAVE_AVX2)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt") && os_saves(0x6);
#else
    return 0;
#endif
  case ASIM_ISA_AVX512:
#if defined(ASIM_HAVE_AVX512)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vpopcntdq") && __builtin_cpu_supports("avx512vnni") && os_saves(0xe6);
#else
    return 0;
#endif
  case ASIM_ISA_AMX: return asim_isa_available(ASIM_ISA_AVX512) && asim_amx_enable();
#else
  default: return 0;
#endif
  }
  return 0;
}

static int forced = -1, chosen = -1;

asim_isa asim_isa_active(void) {
  if (forced >= 0) return (asim_isa)forced;
  if (chosen < 0) {
    int best = ASIM_ISA_SCALAR;
    for (int i = ASIM_ISA_AMX; i > ASIM_ISA_SCALAR; i--)
      if (asim_isa_available((asim_isa)i)) {
        best = i;
        break;
      }
    const char *env = getenv("ASIM_KERNEL");
    if (env && *env && strcmp(env, "auto")) {
      asim_isa want = ASIM_ISA_SCALAR;
      if (asim_isa_parse(env, &want) != ASIM_OK) {
        fprintf(stderr, "asim: ASIM_KERNEL=%s is not amx, avx512, avx2 or scalar; using %s\n", env,
                asim_isa_name((asim_isa)best));
        asim_error_clear();
      } else if (!asim_isa_available(want)) {
        fprintf(stderr, "asim: ASIM_KERNEL=%s is not available on this CPU; using %s\n", env,
                asim_isa_name((asim_isa)best));
      } else {
        best = want;
      }
    }
    chosen = best; /* benign race: every thread computes the same value */
  }
  return (asim_isa)chosen;
}

asim_status asim_isa_select(asim_isa isa) {
  if ((int)isa < ASIM_ISA_SCALAR || isa > ASIM_ISA_AMX)
    return ASIM_ERR(ASIM_EINVAL, "kernel set %d: unknown", (int)isa);
  if (!asim_isa_available(isa))
    return ASIM_ERR(ASIM_EUNSUP, "kernel set %s is not available on this CPU/build", asim_isa_name(isa));
  forced = (int)isa;
  return ASIM_OK;
}

asim_kfns asim_kernels(asim_isa isa) {
  asim_kfns k = {asim_pack_scalar, asim_cycles_scalar, asim_gemm_scalar, asim_gemm_scalar};
#if defined(ASIM_HAVE_AVX2)
  if (isa == ASIM_ISA_AVX2) k.cycles = asim_cycles_avx2, k.gemm = k.gemm_amx = asim_gemm_avx2;
#endif
#if defined(ASIM_HAVE_AVX512)
  if (isa >= ASIM_ISA_AVX512) k.pack = asim_pack_avx512, k.cycles = asim_cycles_avx512, k.gemm = k.gemm_amx = asim_gemm_avx512;
#endif
#if defined(ASIM_HAVE_AMX)
  if (isa == ASIM_ISA_AMX) k.gemm_amx = asim_gemm_amx;
#endif
  return k;
}
