// csss ask: the help assistant. Answers questions about using csss from the knowledge base
// compiled into the binary (lib/assist/kb.yaml), offline, without a login or a store: one
// question from the command line, a prompt with line editing on a terminal, or each line of
// standard input otherwise.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "assist/assistant.hpp"
#include "assist/kb.hpp"
#include "commands.hpp"
#include "context.hpp"
#include "format.hpp"
#include "line_editor.hpp"
#include "terminal.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

namespace csss::cli {

namespace {

constexpr std::size_t kMaxQuestionBytes = 1000;

struct AskOptions {
  std::vector<std::string> words;
  std::optional<std::string> kb;
  bool topics = false;
};

// The question as asked, checked: Error(usage) when empty, Error(invalid_input) when not UTF-8
// text or too long. `where` prefixes the message ("line 3: ").
std::string checked_question(const std::string& raw, const std::string& where) {
  std::string q = util::trim(raw);
  if (q.empty()) {
    throw Error(
        ErrorKind::usage,
        where + "the question is empty; ask one, or list the topics with csss ask --topics");
  }
  if (!util::is_valid_utf8(q))
    throw Error(ErrorKind::invalid_input, where + "the question is not UTF-8 text");
  if (q.size() > kMaxQuestionBytes) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("{}the question is longer than {} bytes", where, kMaxQuestionBytes));
  }
  return q;
}

nlohmann::json topics_json(const assist::Assistant& assistant) {
  nlohmann::json out = nlohmann::json::array();
  for (const assist::Entry* e : assistant.topics())
    out.push_back({{"id", e->id}, {"title", e->title}});
  return out;
}

std::string topics_text(const assist::Assistant& assistant) {
  std::vector<std::vector<std::string>> rows;
  for (const assist::Entry* e : assistant.topics())
    rows.push_back({e->id, e->title});
  return format_table({"TOPIC", "TITLE"}, rows);
}

std::string_view kind_name(assist::ReplyKind kind) {
  switch (kind) {
    case assist::ReplyKind::answer:
      return "answer";
    case assist::ReplyKind::refusal:
      return "refusal";
    case assist::ReplyKind::unknown:
      break;
  }
  return "unknown";
}

nlohmann::json reply_json(const assist::Assistant& assistant, const std::string& question,
                          const assist::Reply& reply) {
  nlohmann::json answers = nlohmann::json::array();
  for (const assist::Match& m : reply.matches) {
    answers.push_back({{"id", m.entry->id},
                       {"title", m.entry->title},
                       {"score", m.score},
                       {"answer", m.entry->answer}});
  }
  nlohmann::json doc = {
      {"question", question}, {"kind", kind_name(reply.kind)}, {"answers", std::move(answers)}};
  if (reply.kind == assist::ReplyKind::unknown)
    doc["topics"] = topics_json(assistant);
  return doc;
}

std::string reply_text(const assist::Assistant& assistant, const assist::Reply& reply) {
  switch (reply.kind) {
    case assist::ReplyKind::answer: {
      const assist::Entry& best = *reply.matches.front().entry;
      std::string out = fmt::format("{}\n\n{}\n", best.title, best.answer);
      if (reply.matches.size() > 1) {
        std::vector<std::string> titles;
        for (std::size_t i = 1; i < reply.matches.size(); ++i)
          titles.push_back(reply.matches[i].entry->title);
        out += fmt::format("\nSee also: {}\n", util::join(titles, "; "));
      }
      return out;
    }
    case assist::ReplyKind::refusal:
      return reply.matches.front().entry->answer + "\n";
    case assist::ReplyKind::unknown:
      break;
  }
  return "I don't know the answer to that. I can help with these topics:\n\n" +
         topics_text(assistant) +
         "\nAsk about one of them, e.g. csss ask \"how do I upload a scan?\"\n";
}

// Questions from standard input, one per line, without prompt or line editing: each answer is
// printed as soon as it is known (text), or every reply in one JSON array at the end (--json).
// Empty lines are skipped; "quit" or "exit" ends, as the end of input does.
void answer_lines(const assist::Assistant& assistant, Context& ctx) {
  nlohmann::json replies = nlohmann::json::array();
  std::string line;
  std::size_t number = 0;
  bool first = true;
  while (std::getline(std::cin, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    const std::string trimmed = util::trim(line);
    if (trimmed.empty())
      continue;
    if (trimmed == "quit" || trimmed == "exit")
      break;
    const std::string q = checked_question(trimmed, fmt::format("line {}: ", number));
    const assist::Reply reply = assistant.ask(q);
    if (ctx.options().json) {
      replies.push_back(reply_json(assistant, q, reply));
    } else {
      const std::string text =
          fmt::format("{}> {}\n{}", first ? "" : "\n", q, reply_text(assistant, reply));
      std::fputs(text.c_str(), stdout);
      std::fflush(stdout);
    }
    first = false;
  }
  if (ctx.options().json)
    ctx.result(replies, "");
}

// The prompt on a terminal, with line editing and an in-memory history.
void answer_interactively(const assist::Assistant& assistant, Context& ctx) {
  ctx.info(
      "Ask a question about using csss ('topics' lists what I know; quit, exit or Ctrl-D "
      "leaves).");
  LineEditor editor;
  while (const auto line = editor.read_line("csss ask> ")) {
    const std::string trimmed = util::trim(*line);
    if (trimmed.empty())
      continue;
    editor.remember(trimmed);
    if (trimmed == "quit" || trimmed == "exit")
      break;
    if (trimmed == "topics") {
      ctx.result(topics_json(assistant), topics_text(assistant));
      continue;
    }
    try {
      const std::string q = checked_question(trimmed, "");
      const assist::Reply reply = assistant.ask(q);
      ctx.result(reply_json(assistant, q, reply), reply_text(assistant, reply));
    } catch (const Error& e) {
      // At the prompt a bad question is told and the session goes on.
      std::fprintf(stderr, "csss: %s\n", e.what());
    }
    std::fflush(stdout);
  }
}

void run_ask(const AskOptions& opt, Context& ctx) {
  const assist::Assistant assistant(opt.kb ? assist::load_knowledge_base(*opt.kb)
                                           : assist::builtin_knowledge_base());
  if (opt.topics) {
    if (!opt.words.empty())
      throw Error(ErrorKind::usage, "--topics takes no question");
    ctx.result({{"topics", topics_json(assistant)}}, topics_text(assistant));
    return;
  }
  if (!opt.words.empty()) {
    const std::string q = checked_question(util::join(opt.words, " "), "");
    const assist::Reply reply = assistant.ask(q);
    ctx.result(reply_json(assistant, q, reply), reply_text(assistant, reply));
    return;
  }
  if (stdin_is_terminal())
    answer_interactively(assistant, ctx);
  else
    answer_lines(assistant, ctx);
}

}  // namespace

void setup_ask(CLI::App& app, Context& ctx) {
  auto opt = std::make_shared<AskOptions>();
  CLI::App* cmd =
      app.add_subcommand("ask", "Ask the help assistant how to use csss (offline, no login)");
  cmd->add_option("question", opt->words,
                  "The question (quotes optional); without one: a prompt on a terminal, else "
                  "each line of standard input");
  cmd->add_option("--kb", opt->kb,
                  "Answer from this knowledge base (YAML, the format of lib/assist/kb.yaml) "
                  "instead of the built-in one")
      ->type_name("FILE");
  cmd->add_flag("--topics", opt->topics, "List the topics it can answer");
  cmd->footer(
      "Finds the best answer in the knowledge base built into csss (BM25 ranking; typos and\n"
      "word forms are tolerated) and prints it with related topics; a question it cannot\n"
      "answer gets the list of topics. It gives no medical advice: ask your doctor. Needs no\n"
      "login and no store. On a terminal without a question it opens a prompt with line\n"
      "editing and history (kept in memory only); quit, exit or Ctrl-D leaves. Otherwise it\n"
      "answers each line of standard input; with --json, one array of replies at the end.\n"
      "--json prints {question, kind, answers: [{id, title, score, answer}]}.\n\n"
      "Examples:\n"
      "  csss ask \"how do I upload a DICOM?\"\n"
      "  csss ask --json what does uncertain mean\n"
      "  printf 'reset password\\nexit codes\\n' | csss ask\n"
      "  csss ask --topics");
  cmd->callback([opt, &ctx] { run_ask(*opt, ctx); });
}

}  // namespace csss::cli
