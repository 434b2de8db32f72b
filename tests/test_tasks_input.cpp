// Document readers of the batch jobs: JSON Lines, plain text and CSV, bad records in place.
#include <sstream>

#include <gtest/gtest.h>

#include "medenc/error.h"
#include "medenc/text_input.h"
#include "tasks/csv_parser.h"

namespace medenc {
namespace {

std::vector<Document> read_all(const std::string& input, InputOptions o) {
  std::istringstream in(input);
  auto reader = make_document_reader(in, o, "test");
  std::vector<Document> docs;
  Document d;
  while (reader->next(d)) docs.push_back(d);
  EXPECT_EQ(reader->bytes_read(), (int64_t)input.size() + (input.empty() || input.back() == '\n' ? 0 : 1));
  return docs;
}

TEST(TasksInput, Utf8Validation) {
  EXPECT_EQ(find_invalid_utf8("plain ascii"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("fi\xC3\xA8vre \xE2\x80\x94 \xF0\x9F\x98\x80"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("ab\xFF"), 2u);
  EXPECT_EQ(find_invalid_utf8("ab\xC3"), 2u);           // truncated sequence
  EXPECT_EQ(find_invalid_utf8("\xC0\xAF"), 0u);         // overlong '/'
  EXPECT_EQ(find_invalid_utf8("x\xED\xA0\x80"), 1u);    // UTF-16 surrogate
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0u); // above U+10FFFF
  EXPECT_EQ(find_invalid_utf8("a\x80"), 1u);            // lone continuation byte
}

TEST(TasksInput, JsonlRecordsAndErrorsInPlace) {
  InputOptions o;
  o.pair_field = "text_pair";
  const std::string input =
      "{\"id\": 7, \"text\": \"Chest pain.\"}\n"
      "{\"text\": \"broken\"\n"                              // malformed JSON
      "{\"id\": \"a\", \"body\": \"no text field\"}\n"       // missing field
      "{\"text\": \"bad \xFF byte\"}\r\n"                    // invalid UTF-8 (and CRLF)
      "\n"                                                   // empty line
      "[1, 2]\n"                                             // not an object
      "{\"text\": 5}\n"                                      // not a string
      "{\"id\": {\"mrn\": 1}, \"text\": \"A\", \"text_pair\": \"B\"}\r\n"
      "{\"text\": \"last\", \"text_pair\": null}";           // no final newline
  const auto docs = read_all(input, o);
  ASSERT_EQ(docs.size(), 9u);
  for (size_t i = 0; i < docs.size(); ++i) EXPECT_EQ(docs[i].line, (int64_t)i + 1);
  EXPECT_EQ(docs[0].error, "");
  EXPECT_EQ(docs[0].text, "Chest pain.");
  EXPECT_EQ(docs[0].id, 7);
  EXPECT_FALSE(docs[0].text_pair.has_value());
  EXPECT_NE(docs[1].error.find("malformed JSON"), std::string::npos) << docs[1].error;
  EXPECT_EQ(docs[2].error, "missing field \"text\"");
  EXPECT_EQ(docs[2].id, "a");
  EXPECT_EQ(docs[3].error, "invalid UTF-8 at byte 14");
  EXPECT_EQ(docs[4].error, "empty line");
  EXPECT_EQ(docs[5].error, "expected a JSON object");
  EXPECT_EQ(docs[6].error, "field \"text\" is not a string");
  EXPECT_EQ(docs[7].error, "");
  EXPECT_EQ(docs[7].text, "A");
  EXPECT_EQ(docs[7].text_pair.value(), "B");
  EXPECT_EQ(docs[7].id["mrn"], 1);
  EXPECT_EQ(docs[8].text, "last");
  EXPECT_FALSE(docs[8].text_pair.has_value());
}

TEST(TasksInput, JsonlCustomField) {
  InputOptions o;
  o.field = "note";
  const auto docs = read_all("{\"note\": \"x\", \"text\": \"y\"}\n{\"text\": \"y\"}\n", o);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].text, "x");
  EXPECT_EQ(docs[1].error, "missing field \"note\"");
}

TEST(TasksInput, PlainTextOneDocumentPerLine) {
  InputOptions o;
  o.format = InputFormat::Text;
  const auto docs = read_all("No acute distress.\r\n\nbad \xC3(\n{\"text\": \"kept as text\"}\n", o);
  ASSERT_EQ(docs.size(), 4u);
  EXPECT_EQ(docs[0].text, "No acute distress.");
  EXPECT_EQ(docs[1].text, "");
  EXPECT_EQ(docs[1].error, "");
  EXPECT_EQ(docs[2].error, "invalid UTF-8 at byte 4");
  EXPECT_EQ(docs[3].text, "{\"text\": \"kept as text\"}");
  EXPECT_TRUE(docs[3].id.is_null());
}

TEST(TasksInput, CsvQuotedFieldsAndLineNumbers) {
  InputOptions o;
  o.format = InputFormat::Csv;
  o.field = "report";
  const std::string input =
      "id,report,site\r\n"
      "1,\"Heart size normal, lungs clear.\",A\r\n"
      "2,\"FINDINGS:\r\nNo effusion.\nImpression: \"\"stable\"\".\",B\r\n"
      "\r\n"
      "3,plain text,C\n"
      "4,too,many,fields\n"
      "5,\"\",D\n"
      "6,ab\"c,E\n"
      "7,\"never closed,F\nmore\n";
  const auto docs = read_all(input, o);
  ASSERT_EQ(docs.size(), 7u);
  EXPECT_EQ(docs[0].line, 2);
  EXPECT_EQ(docs[0].id, "1");
  EXPECT_EQ(docs[0].text, "Heart size normal, lungs clear.");
  EXPECT_EQ(docs[1].line, 3);
  // Inside quotes the line breaks are kept as written (CRLF and LF), as Python's csv does.
  EXPECT_EQ(docs[1].text, "FINDINGS:\r\nNo effusion.\nImpression: \"stable\".");
  EXPECT_EQ(docs[2].line, 7);  // the blank line 6 is not a record
  EXPECT_EQ(docs[2].text, "plain text");
  EXPECT_EQ(docs[3].error, "row has 4 fields but the header has 3");
  EXPECT_EQ(docs[4].text, "");
  EXPECT_EQ(docs[4].error, "");
  EXPECT_EQ(docs[5].text, "ab\"c");  // a quote inside an unquoted field is text
  EXPECT_EQ(docs[6].line, 11);
  EXPECT_NE(docs[6].error.find("never closed"), std::string::npos);
}

TEST(TasksInput, CsvMissingColumnIsAClearError) {
  InputOptions o;
  o.format = InputFormat::Csv;
  std::istringstream in("id,note\n1,x\n");
  auto reader = make_document_reader(in, o, "notes.csv");
  Document d;
  try {
    reader->next(d);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("notes.csv"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("no column \"text\""), std::string::npos);
  }
}

TEST(TasksInput, CsvParserRecordByRecord) {
  std::istringstream in("a,\"b\nc\",d\n\"\"\"\",\"x,y\"\n");
  CsvParser p(in);
  std::vector<std::string> f;
  int64_t line = 0;
  std::string err;
  ASSERT_TRUE(p.next(f, line, err));
  EXPECT_EQ(f, (std::vector<std::string>{"a", "b\nc", "d"}));
  EXPECT_EQ(line, 1);
  ASSERT_TRUE(p.next(f, line, err));
  EXPECT_EQ(f, (std::vector<std::string>{"\"", "x,y"}));
  EXPECT_EQ(line, 3);
  EXPECT_FALSE(p.next(f, line, err));
}

}  // namespace
}  // namespace medenc
