// AMX-INT8 table: the AVX-512 table with the Q4_0 / Q8_0 tiled products on the tile
// matrix unit (tile.cpp). Offered only where the CPU has AMX-TILE and AMX-INT8 and the
// OS granted this process the tile state (features.cpp).
#include <cstdint>

#include "hal/cpu/kernels/isa.h"

namespace airt::hal::amx {

void fill(Kernels& k) {
  k.isa = "amx";
  fill_tiles(k);
}

}  // namespace airt::hal::amx
