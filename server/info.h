// server/info.h: the text of INFO, in Redis's format ("# Section" headers,
// "field:value" lines, CRLF line ends).
#ifndef RINGKV_SERVER_INFO_H_
#define RINGKV_SERVER_INFO_H_

#include <string>
#include <vector>

namespace ringkv::server {

class Server;

// `sections` as given to INFO (case-insensitive); empty, "default", "all"
// and "everything" give every section.
std::string BuildInfo(Server& server, const std::vector<std::string>& sections);

}  // namespace ringkv::server

#endif  // RINGKV_SERVER_INFO_H_
