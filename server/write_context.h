// server/write_context.h: the opaque causal context clients see.
//
// VGET returns a key's merged version vector as a context, and VSET / VDEL
// take it back; forwarded writes carry it too. On the wire it is the
// lowercase hex of a sibling-set record with the clock and no siblings
// (docs/storage_format.md), so it carries a checksum and a corrupted or
// made-up context is refused rather than misread. The empty string is the
// empty context (a key never seen).
#ifndef RINGKV_SERVER_WRITE_CONTEXT_H_
#define RINGKV_SERVER_WRITE_CONTEXT_H_

#include <string>
#include <string_view>

#include "storage/version_vector.h"

namespace ringkv::server {

std::string EncodeContext(const storage::VersionVector& clock);
// False if `text` is not a context EncodeContext produced.
bool DecodeContext(std::string_view text, storage::VersionVector* clock);

}  // namespace ringkv::server

#endif  // RINGKV_SERVER_WRITE_CONTEXT_H_
