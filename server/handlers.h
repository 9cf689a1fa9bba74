// server/handlers.h: the command handlers the table (command_table.cc)
// points to, grouped by file: connection (commands_connection.cc),
// admin (commands_admin.cc), strings (commands_string.cc).
#ifndef RINGKV_SERVER_HANDLERS_H_
#define RINGKV_SERVER_HANDLERS_H_

#include "server/command.h"

namespace ringkv::server {

// Connection.
void PingCommand(CommandContext& ctx);
void EchoCommand(CommandContext& ctx);
void HelloCommand(CommandContext& ctx);
void AuthCommand(CommandContext& ctx);
void ClientCommand(CommandContext& ctx);
void SelectCommand(CommandContext& ctx);
void QuitCommand(CommandContext& ctx);
void ResetCommand(CommandContext& ctx);

// Admin.
void CommandCommand(CommandContext& ctx);
void InfoCommand(CommandContext& ctx);
void ConfigCommand(CommandContext& ctx);
void DbsizeCommand(CommandContext& ctx);

// Strings.
void GetCommand(CommandContext& ctx);
void SetCommand(CommandContext& ctx);
void SetnxCommand(CommandContext& ctx);
void GetdelCommand(CommandContext& ctx);
void DelCommand(CommandContext& ctx);
void ExistsCommand(CommandContext& ctx);
void MgetCommand(CommandContext& ctx);
void MsetCommand(CommandContext& ctx);
void MsetnxCommand(CommandContext& ctx);
void StrlenCommand(CommandContext& ctx);
void AppendCommand(CommandContext& ctx);
void VclockCommand(CommandContext& ctx);

// Cluster (commands_cluster.cc).
void VgetCommand(CommandContext& ctx);
void VsetCommand(CommandContext& ctx);
void VdelCommand(CommandContext& ctx);
void LocalgetCommand(CommandContext& ctx);
void RingCommand(CommandContext& ctx);
void MembersCommand(CommandContext& ctx);  // commands_membership.cc
void HintsCommand(CommandContext& ctx);    // commands_hints.cc
void ConsistencyCommand(CommandContext& ctx);
void WaitCommand(CommandContext& ctx);

}  // namespace ringkv::server

#endif  // RINGKV_SERVER_HANDLERS_H_
