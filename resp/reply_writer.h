// resp/reply_writer.h: encoder for replies in RESP2 or RESP3.
//
// Appends encoded replies to a caller-owned std::string. The protocol is
// chosen per connection (HELLO 3 switches to RESP3); each RESP3-only type has
// the RESP2 form Redis uses for it:
//
//   type            RESP3          RESP2
//   null            _\r\n          $-1\r\n (NullArray: *-1\r\n)
//   map of n pairs  %n             *2n
//   set             ~n             *n
//   push            >n             *n
//   double          ,1.5           $3\r\n1.5 (bulk string)
//   boolean         #t / #f        :1 / :0
//   verbatim        =15\r\ntxt:..  bulk string without the format
//   big number      (123...        bulk string
//
// Thread safety: none. The writer holds a non-owning pointer to `out`, which
// must outlive it.
#ifndef RINGKV_RESP_REPLY_WRITER_H_
#define RINGKV_RESP_REPLY_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringkv::resp {

class ReplyWriter {
 public:
  // protocol is 2 or 3.
  ReplyWriter(std::string* out, int protocol) : out_(out), protocol_(protocol) {}

  int protocol() const { return protocol_; }
  void set_protocol(int protocol) { protocol_ = protocol; }
  std::string* buffer() const { return out_; }

  void SimpleString(std::string_view text);  // +text (CR/LF become spaces)
  // -message. `message` starts with the error code ("ERR ...", "WRONGPASS
  // ..."); CR and LF become spaces so a reply can never be split.
  void Error(std::string_view message);
  void Integer(int64_t value);
  void Bulk(std::string_view bytes);
  void Null();
  void NullArray();
  void ArrayHeader(size_t count);
  void MapHeader(size_t pairs);
  void SetHeader(size_t count);
  void PushHeader(size_t count);
  void Double(double value);
  void Boolean(bool value);
  void Verbatim(std::string_view format, std::string_view text);
  void BigNumber(std::string_view digits);

  // Appends bytes that are already an encoded reply (e.g. one relayed from
  // another node). The caller vouches that they are well formed.
  void Raw(std::string_view encoded) { out_->append(encoded); }

 private:
  void Header(char type, uint64_t count);

  std::string* out_;  // Not owned.
  int protocol_;
};

}  // namespace ringkv::resp

#endif  // RINGKV_RESP_REPLY_WRITER_H_
