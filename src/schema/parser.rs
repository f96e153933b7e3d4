//! A fast path in front of async-graphql's parser, for a document seen for the first time.
//!
//! async-graphql parses with pest: a generic PEG engine that builds a tree of pairs, then a
//! second pass that turns the pairs into the AST. On a first-seen document that was 38% of the
//! service's whole CPU (callgrind, `docs/performance.md`). This is a plain recursive descent over
//! bytes that builds the same AST, positions included, in one pass.
//!
//! It is a fast path, not a second parser: it answers only when it is sure of the answer pest
//! would give, and gives up (`None`) otherwise, whereupon pest parses the text as before. So
//! every syntax error, every error message and every corner of pest's grammar that differs from
//! GraphQL's (keywords glued to names, `on` with a comment after it, directives before a
//! variable's default value) stays pest's. What it gives up on is what a client rarely sends:
//! escapes and block strings, and any text pest would refuse. A property test in this module
//! holds it to pest's AST on generated documents, valid and not.
//!
//! Recursion is bounded before parsing: [`crate::guard::scan`] has already refused a document
//! nested deeper than `MAX_RECURSION`, and nesting is all this recurses on.

use std::collections::{hash_map::Entry, HashMap};

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, FragmentDefinition, FragmentSpread, InlineFragment,
    OperationDefinition, OperationType, Selection, SelectionSet, Type, TypeCondition, VariableDefinition,
};
use async_graphql::parser::{Error, Positioned};
use async_graphql::{Name, Number, Pos};
use async_graphql_value::Value;
use indexmap::IndexMap;

/// Parses a query document as `async_graphql::parser::parse_query` does, with the same result.
pub fn parse_query(text: &str) -> Result<ExecutableDocument, Error> {
    match Parser::new(text).document() {
        Some(document) => Ok(document),
        None => async_graphql::parser::parse_query(text),
    }
}

/// async-graphql's bound on nested selection sets (`MAX_RECURSION_DEPTH` in its parser): a
/// document over it is refused by pest, so this gives up there.
const SELECTION_DEPTH: usize = 64;

/// Gives up: the caller hands the text to pest.
type Parsed<T> = Option<T>;

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    /// The next byte to read; after every token, past the ignored text that follows it.
    at: usize,
    /// Where the last position was taken, and its line and column, so positions cost one pass
    /// over the text in all (async-graphql's `PositionCalculator`, on bytes).
    counted: usize,
    line: usize,
    column: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        let mut parser = Self { text, bytes: text.as_bytes(), at: 0, counted: 0, line: 1, column: 1 };
        parser.skip_ignored();
        parser
    }

    fn document(mut self) -> Parsed<ExecutableDocument> {
        let mut operations: Option<DocumentOperations> = None;
        let mut fragments = HashMap::new();
        while self.at < self.bytes.len() {
            let pos = self.pos();
            let (name, definition) = match self.peek_name() {
                None if self.peek() == Some(b'{') => (None, self.shorthand()?),
                Some("fragment") => {
                    let (name, fragment) = self.fragment_definition()?;
                    match fragments.entry(name) {
                        Entry::Occupied(_) => return None,
                        Entry::Vacant(entry) => entry.insert(Positioned::new(fragment, pos)),
                    };
                    continue;
                }
                Some(keyword) => {
                    let ty = match keyword {
                        "query" => OperationType::Query,
                        "mutation" => OperationType::Mutation,
                        "subscription" => OperationType::Subscription,
                        _ => return None,
                    };
                    self.take_name();
                    self.operation(ty)?
                }
                None => return None,
            };
            let definition = Positioned::new(definition, pos);
            // An anonymous operation must be the only one, and names must differ: else pest's
            // error.
            match (name, &mut operations) {
                (None, None) => operations = Some(DocumentOperations::Single(definition)),
                (None, Some(_)) | (Some(_), Some(DocumentOperations::Single(_))) => return None,
                (Some(name), _) => {
                    let operations = operations.get_or_insert_with(|| DocumentOperations::Multiple(HashMap::new()));
                    let DocumentOperations::Multiple(named) = operations else { return None };
                    match named.entry(name) {
                        Entry::Occupied(_) => return None,
                        Entry::Vacant(entry) => entry.insert(definition),
                    };
                }
            }
        }
        Some(ExecutableDocument { operations: operations?, fragments })
    }

    /// `{ ... }` alone: a query with no name, variables or directives.
    fn shorthand(&mut self) -> Parsed<OperationDefinition> {
        Some(OperationDefinition {
            ty: OperationType::Query,
            variable_definitions: Vec::new(),
            directives: Vec::new(),
            selection_set: self.selection_set(SELECTION_DEPTH)?,
        })
    }

    /// After the operation type: `Name? VariableDefinitions? Directives? SelectionSet`.
    fn operation(&mut self, ty: OperationType) -> Parsed<(Option<Name>, OperationDefinition)> {
        let name = if self.peek_name().is_some() { Some(self.name()?.node) } else { None };
        let mut variable_definitions = Vec::new();
        if self.eat(b'(') {
            while !self.eat(b')') {
                variable_definitions.push(self.variable_definition()?);
            }
        }
        let directives = self.directives()?;
        let selection_set = self.selection_set(SELECTION_DEPTH)?;
        Some((name, OperationDefinition { ty, variable_definitions, directives, selection_set }))
    }

    /// `$name: Type Directives? DefaultValue?`, in pest's order (the spec puts directives last).
    fn variable_definition(&mut self) -> Parsed<Positioned<VariableDefinition>> {
        let pos = self.pos();
        self.expect(b'$')?;
        let name = self.name()?;
        self.expect(b':')?;
        let var_type = self.type_()?;
        let directives = self.directives()?;
        let default_value = if self.eat(b'=') {
            let value = self.value(true)?;
            Some(Positioned::new(value.node.into_const()?, value.pos))
        } else {
            None
        };
        Some(Positioned::new(VariableDefinition { name, var_type, directives, default_value }, pos))
    }

    /// A type is one token to pest: no ignored text inside `[`, `]` or before `!`.
    fn type_(&mut self) -> Parsed<Positioned<Type>> {
        let pos = self.pos();
        let start = self.at;
        self.type_text()?;
        let ty = Type::new(&self.text[start..self.at])?;
        self.skip_ignored();
        Some(Positioned::new(ty, pos))
    }

    fn type_text(&mut self) -> Parsed<()> {
        if self.bytes.get(self.at) == Some(&b'[') {
            self.at += 1;
            self.type_text()?;
            if self.bytes.get(self.at) != Some(&b']') {
                return None;
            }
            self.at += 1;
        } else {
            self.name_end()?;
        }
        if self.bytes.get(self.at) == Some(&b'!') {
            self.at += 1;
        }
        Some(())
    }

    /// `fragment Name on Type Directives? SelectionSet`, the keyword not yet taken.
    fn fragment_definition(&mut self) -> Parsed<(Name, FragmentDefinition)> {
        self.take_name();
        let name = self.name()?.node;
        let type_condition = self.type_condition()?;
        let directives = self.directives()?;
        let selection_set = self.selection_set(SELECTION_DEPTH)?;
        Some((name, FragmentDefinition { type_condition, directives, selection_set }))
    }

    /// `on Name`, where pest wants white space (not a comment) after `on`.
    fn type_condition(&mut self) -> Parsed<Positioned<TypeCondition>> {
        if self.peek_name() != Some("on") {
            return None;
        }
        let pos = self.pos();
        let mut after = self.at + 2;
        let mut spaced = false;
        while let Some(width) = whitespace_width(&self.bytes[after..]) {
            after += width;
            spaced = true;
        }
        if !spaced {
            return None;
        }
        self.at = after;
        let on = self.name()?;
        Some(Positioned::new(TypeCondition { on }, pos))
    }

    fn selection_set(&mut self, depth: usize) -> Parsed<Positioned<SelectionSet>> {
        let pos = self.pos();
        self.expect(b'{')?;
        let mut items = Vec::new();
        while !self.eat(b'}') {
            items.push(self.selection(depth)?);
        }
        if items.is_empty() {
            return None;
        }
        Some(Positioned::new(SelectionSet { items }, pos))
    }

    fn selection(&mut self, depth: usize) -> Parsed<Positioned<Selection>> {
        let pos = self.pos();
        if !self.bytes[self.at..].starts_with(b"...") {
            let field = self.field(depth)?;
            return Some(Positioned::new(Selection::Field(field), pos));
        }
        self.at += 3;
        self.skip_ignored();
        let selection = match self.peek_name() {
            Some("on") => Selection::InlineFragment(self.inline_fragment(pos, depth, true)?),
            Some(_) => {
                let fragment_name = self.name()?;
                let directives = self.directives()?;
                Selection::FragmentSpread(Positioned::new(FragmentSpread { fragment_name, directives }, pos))
            }
            None => Selection::InlineFragment(self.inline_fragment(pos, depth, false)?),
        };
        Some(Positioned::new(selection, pos))
    }

    fn inline_fragment(&mut self, pos: Pos, depth: usize, conditional: bool) -> Parsed<Positioned<InlineFragment>> {
        let type_condition = if conditional { Some(self.type_condition()?) } else { None };
        let directives = self.directives()?;
        let selection_set = self.selection_set(depth.checked_sub(1)?)?;
        Some(Positioned::new(InlineFragment { type_condition, directives, selection_set }, pos))
    }

    /// `Alias? Name Arguments? Directives? SelectionSet?`
    fn field(&mut self, depth: usize) -> Parsed<Positioned<Field>> {
        let pos = self.pos();
        let first = self.name()?;
        let (alias, name) = if self.eat(b':') { (Some(first), self.name()?) } else { (None, first) };
        let arguments = if self.peek() == Some(b'(') { self.arguments()? } else { Vec::new() };
        let directives = self.directives()?;
        let selection_set =
            if self.peek() == Some(b'{') { self.selection_set(depth.checked_sub(1)?)? } else { Positioned::default() };
        Some(Positioned::new(Field { alias, name, arguments, directives, selection_set }, pos))
    }

    /// `( Name: Value ... )`, at least one.
    fn arguments(&mut self) -> Parsed<Vec<(Positioned<Name>, Positioned<Value>)>> {
        self.expect(b'(')?;
        let mut arguments = Vec::new();
        while !self.eat(b')') {
            let name = self.name()?;
            self.expect(b':')?;
            arguments.push((name, self.value(false)?));
        }
        (!arguments.is_empty()).then_some(arguments)
    }

    fn directives(&mut self) -> Parsed<Vec<Positioned<async_graphql::parser::types::Directive>>> {
        let mut directives = Vec::new();
        while self.peek() == Some(b'@') {
            let pos = self.pos();
            self.expect(b'@')?;
            let name = self.name()?;
            let arguments = if self.peek() == Some(b'(') { self.arguments()? } else { Vec::new() };
            directives.push(Positioned::new(async_graphql::parser::types::Directive { name, arguments }, pos));
        }
        Some(directives)
    }

    /// A value; a constant one (a default value) may hold no variable, however deep.
    fn value(&mut self, constant: bool) -> Parsed<Positioned<Value>> {
        let pos = self.pos();
        let value = match self.peek()? {
            b'$' if constant => return None,
            b'$' => {
                self.expect(b'$')?;
                Value::Variable(self.name()?.node)
            }
            b'-' | b'0'..=b'9' => Value::Number(self.number()?),
            b'"' => Value::String(self.string()?),
            b'[' => {
                self.expect(b'[')?;
                let mut items = Vec::new();
                while !self.eat(b']') {
                    items.push(self.value(constant)?.node);
                }
                Value::List(items)
            }
            b'{' => {
                self.expect(b'{')?;
                let mut fields = IndexMap::new();
                while !self.eat(b'}') {
                    let name = self.name()?.node;
                    self.expect(b':')?;
                    fields.insert(name, self.value(constant)?.node);
                }
                Value::Object(fields)
            }
            _ => match self.peek_name()? {
                "true" => self.keyword(Value::Boolean(true)),
                "false" => self.keyword(Value::Boolean(false)),
                "null" => self.keyword(Value::Null),
                // pest reads `trueish` as `true` then `ish`.
                name if ["true", "false", "null"].iter().any(|keyword| name.starts_with(keyword)) => return None,
                _ => Value::Enum(self.name()?.node),
            },
        };
        Some(Positioned::new(value, pos))
    }

    fn keyword(&mut self, value: Value) -> Value {
        self.take_name();
        value
    }

    /// `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?`, one token, read by the same
    /// `Number::from_str` pest's AST pass uses.
    fn number(&mut self) -> Parsed<Number> {
        let start = self.at;
        let digits = |parser: &mut Self| {
            let from = parser.at;
            while parser.bytes.get(parser.at).is_some_and(u8::is_ascii_digit) {
                parser.at += 1;
            }
            parser.at > from
        };
        if self.bytes[self.at] == b'-' {
            self.at += 1;
        }
        match self.bytes.get(self.at) {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => _ = digits(self),
            _ => return None,
        }
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            if !digits(self) {
                return None;
            }
        }
        if matches!(self.bytes.get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.bytes.get(self.at), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if !digits(self) {
                return None;
            }
        }
        // A name, a digit after a leading zero or a second `.` glued on: pest splits or refuses.
        if self.bytes.get(self.at).is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') {
            return None;
        }
        let number = self.text[start..self.at].parse().ok()?;
        self.skip_ignored();
        Some(number)
    }

    /// A `"` string with no escapes: escapes and block strings are left to pest.
    fn string(&mut self) -> Parsed<String> {
        if self.bytes[self.at..].starts_with(b"\"\"\"") {
            return None;
        }
        let start = self.at + 1;
        let length = self.bytes[start..].iter().position(|&b| matches!(b, b'"' | b'\\' | b'\n' | b'\r'))?;
        if self.bytes[start + length] != b'"' {
            return None;
        }
        self.at = start + length + 1;
        let content = self.text[start..start + length].to_owned();
        self.skip_ignored();
        Some(content)
    }

    fn name(&mut self) -> Parsed<Positioned<Name>> {
        let pos = self.pos();
        let name = Name::new(self.peek_name()?);
        self.take_name();
        Some(Positioned::new(name, pos))
    }

    /// The name at the cursor, not taken.
    fn peek_name(&self) -> Option<&'a str> {
        let rest = &self.bytes[self.at..];
        if !rest.first().is_some_and(|&b| b == b'_' || b.is_ascii_alphabetic()) {
            return None;
        }
        let length = rest.iter().position(|&b| b != b'_' && !b.is_ascii_alphanumeric()).unwrap_or(rest.len());
        Some(&self.text[self.at..self.at + length])
    }

    fn take_name(&mut self) {
        if self.name_end().is_some() {
            self.skip_ignored();
        }
    }

    /// Moves past the name at the cursor, without the ignored text after it.
    fn name_end(&mut self) -> Parsed<()> {
        self.at += self.peek_name()?.len();
        Some(())
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, punctuator: u8) -> bool {
        let found = self.peek() == Some(punctuator);
        if found {
            self.at += 1;
            self.skip_ignored();
        }
        found
    }

    fn expect(&mut self, punctuator: u8) -> Parsed<()> {
        self.eat(punctuator).then_some(())
    }

    /// White space, commas, byte-order marks and comments.
    fn skip_ignored(&mut self) {
        loop {
            if let Some(width) = whitespace_width(&self.bytes[self.at..]) {
                self.at += width;
            } else if self.bytes.get(self.at) == Some(&b'#') {
                let rest = &self.bytes[self.at..];
                self.at += rest.iter().position(|&b| b == b'\n' || b == b'\r').unwrap_or(rest.len());
            } else {
                return;
            }
        }
    }

    /// The cursor's line and column, counted as async-graphql counts them: a column is a
    /// character, and a `\r` alone starts the column again without a new line.
    fn pos(&mut self) -> Pos {
        for &byte in &self.bytes[self.counted..self.at] {
            match byte {
                b'\n' => (self.line, self.column) = (self.line + 1, 1),
                b'\r' => self.column = 1,
                // Continuation bytes are not characters.
                _ if byte & 0xC0 != 0x80 => self.column += 1,
                _ => {}
            }
        }
        self.counted = self.at;
        Pos { line: self.line, column: self.column }
    }
}

/// The length of the white space at the start of `bytes`, in pest's `WHITESPACE` rule.
fn whitespace_width(bytes: &[u8]) -> Option<usize> {
    match bytes.first()? {
        b' ' | b',' | b'\t' | b'\n' | b'\r' => Some(1),
        0xEF if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) => Some(3),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    //! The fast path against pest, on documents generated from a stream of choices (so proptest
    //! shrinks a failure to a short document): documents in GraphQL's grammar, with the corners
    //! where pest's grammar differs from it; the same with a few characters deleted or inserted;
    //! and token soup. Whenever the fast path answers, pest must answer the same document with
    //! the same AST, every position included. `PROPTEST_CASES` runs it longer.

    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    use super::*;

    fn cases() -> u32 {
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512)
    }

    /// The document with its maps in a fixed order; `Debug` shows every position.
    fn canonical(document: &ExecutableDocument) -> String {
        let single = matches!(document.operations, DocumentOperations::Single(_));
        let mut operations: Vec<_> = document.operations.iter().map(|entry| format!("{entry:?}")).collect();
        let mut fragments: Vec<_> = document.fragments.iter().map(|entry| format!("{entry:?}")).collect();
        operations.sort();
        fragments.sort();
        format!("single: {single}\n{operations:#?}\n{fragments:#?}")
    }

    /// Whether the fast path answered; panics if it answered differently from pest.
    fn agrees(text: &str) -> bool {
        let Some(fast) = Parser::new(text).document() else { return false };
        match async_graphql::parser::parse_query(text) {
            Ok(reference) => assert_eq!(canonical(&fast), canonical(&reference), "on {text:?}"),
            Err(error) => panic!("the fast path parsed {text:?}, which pest refuses: {error}"),
        }
        true
    }

    struct Choices<'a> {
        stream: std::slice::Iter<'a, u32>,
        /// How rarely a token is one GraphQL and pest read differently (0: never).
        odd_one_in: usize,
    }

    impl Choices<'_> {
        fn pick(&mut self, n: usize) -> usize {
            self.stream.next().map_or(0, |&choice| choice as usize % n)
        }
        fn one(&mut self, options: &[&'static str]) -> &'static str {
            options[self.pick(options.len())]
        }
        fn chance(&mut self, one_in: usize) -> bool {
            self.pick(one_in) == 0
        }
        fn odd(&mut self) -> bool {
            self.odd_one_in > 0 && self.chance(self.odd_one_in)
        }
        fn mostly(&mut self, (usual, odd): (&[&'static str], &[&'static str])) -> &'static str {
            if self.odd() {
                self.one(odd)
            } else {
                self.one(usual)
            }
        }
    }

    const NAMES: &[&str] =
        &["a", "b", "participants", "id", "_x1", "on", "query", "fragment", "true", "null", "onX", "node"];
    const GAPS: &[&str] =
        &[" ", " ", " ", "\n  ", "\r\n", "\r", ",", "\t", " # note\n", " #é ü\r\n", "\u{feff}", " , "];
    /// Each kind of token as GraphQL and pest both read it, then as only one of them does or
    /// as the fast path leaves to pest (one time in eight).
    const NUMBERS: (&[&str], &[&str]) = (
        &["0", "-0", "12", "-34", "1.5", "1e3", "2.5E-3", "6e+2", "99999999999999999999"],
        &["01", "1.", "1e", "12abc", "1.2.3", "-"],
    );
    const STRINGS: (&[&str], &[&str]) = (
        &["\"plain\"", "\"\"", "\"é ü 🎥\"", "\"tab\there\""],
        &["\"esc\\n\"", "\"\\u00e9\"", "\"\"\"block\"\"\"", "\"open", "\"two\nlines\""],
    );
    const WORDS: (&[&str], &[&str]) = (&["true", "false", "null", "ACTIVE", "on"], &["trueish", "nullable", "falsey"]);
    const TYPES: (&[&str], &[&str]) =
        (&["Int", "Int!", "[ID!]!", "[[String]]", "ParticipantFilter"], &["[ Int ]", "Int !", "[Int", "Int!!"]);
    const TYPE_CONDITIONS: (&[&str], &[&str]) = (&["on ", "on\n", "on,", "on\t"], &["on #c\n", "on"]);
    const TOKENS: &[&str] = &[
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        ":",
        "$",
        "@",
        "...",
        "=",
        "!",
        "|",
        ".",
        "query",
        "mutation",
        "fragment",
        "on",
        "a",
        "F",
        "T",
        "true",
        "null",
        "1",
        "-2",
        "1.5",
        "\"s\"",
        "\"\"\"b\"\"\"",
        "#c\n",
        "é",
        "\u{feff}",
        "\r",
        "\n",
    ];

    struct Writer<'a, 'c> {
        choices: &'a mut Choices<'c>,
        text: String,
    }

    impl Writer<'_, '_> {
        fn put(&mut self, piece: &str) {
            self.text.push_str(piece);
        }
        fn gap(&mut self) {
            let gap = self.choices.one(GAPS);
            self.put(gap);
        }
        fn token(&mut self, piece: &str) {
            self.put(piece);
            self.gap();
        }
        fn name(&mut self) {
            let name = self.choices.one(NAMES);
            self.token(name);
        }

        fn document(&mut self) {
            let fragments_first = self.choices.chance(3);
            if fragments_first {
                self.fragments();
            }
            match self.choices.pick(3) {
                0 => self.selection_set(3),
                1 => {
                    let name = self.choices.one(&["Bench", "on", ""]);
                    self.operation(name);
                }
                // Two operations need two names; the odd document has one anonymous, or both
                // named alike.
                _ if self.choices.odd() => {
                    let (first, second) = [("", "Bench"), ("Bench", ""), ("Bench", "Bench")][self.choices.pick(3)];
                    self.operation(first);
                    self.operation(second);
                }
                _ => {
                    self.operation("Bench");
                    self.operation("Other");
                }
            }
            if !fragments_first {
                self.fragments();
            }
        }

        fn fragments(&mut self) {
            for distinct in ["F", "on", "G"].into_iter().take(self.choices.pick(4)) {
                self.token("fragment");
                let name = if self.choices.odd() { "F" } else { distinct };
                self.token(name);
                self.type_condition();
                self.directives();
                self.selection_set(3);
            }
        }

        fn operation(&mut self, name: &str) {
            let keyword = self.choices.one(&["query", "mutation", "subscription", "query"]);
            self.token(keyword);
            if !name.is_empty() {
                self.token(name);
            }
            if self.choices.chance(2) {
                self.token("(");
                for _ in 0..self.choices.pick(3) {
                    self.variable();
                }
                self.token(")");
            }
            self.directives();
            self.selection_set(3);
        }

        fn variable(&mut self) {
            self.token("$");
            self.name();
            self.token(":");
            let ty = self.choices.mostly(TYPES);
            self.token(ty);
            let default_first = self.choices.odd();
            if !default_first {
                self.directives();
            }
            if self.choices.chance(2) {
                self.token("=");
                self.value(2);
            }
            if default_first {
                self.directives();
            }
        }

        fn type_condition(&mut self) {
            let on = self.choices.mostly(TYPE_CONDITIONS);
            self.put(on);
            self.name();
        }

        fn selection_set(&mut self, depth: usize) {
            self.token("{");
            for _ in 0..self.choices.pick(4).max(usize::from(!self.choices.odd())) {
                self.selection(depth);
            }
            self.token("}");
        }

        fn selection(&mut self, depth: usize) {
            match self.choices.pick(6) {
                0 => {
                    self.token("...");
                    self.name();
                    self.directives();
                }
                1 if depth > 0 => {
                    self.token("...");
                    if !self.choices.chance(3) {
                        self.type_condition();
                    }
                    self.directives();
                    self.selection_set(depth - 1);
                }
                _ => self.field(depth),
            }
        }

        fn field(&mut self, depth: usize) {
            self.name();
            if self.choices.chance(3) {
                self.token(":");
                self.name();
            }
            if self.choices.chance(2) {
                self.arguments();
            }
            self.directives();
            if depth > 0 && self.choices.chance(2) {
                self.selection_set(depth - 1);
            }
        }

        fn arguments(&mut self) {
            self.token("(");
            for _ in 0..self.choices.pick(3).max(usize::from(!self.choices.odd())) {
                self.name();
                self.token(":");
                self.value(2);
            }
            self.token(")");
        }

        fn directives(&mut self) {
            for _ in 0..self.choices.pick(4).saturating_sub(2) {
                let at = self.choices.one(&["@", "@", "@ "]);
                self.put(at);
                let name = self.choices.one(&["skip", "include", "dir"]);
                self.token(name);
                if self.choices.chance(2) {
                    self.arguments();
                }
            }
        }

        fn value(&mut self, depth: usize) {
            match self.choices.pick(if depth > 0 { 7 } else { 5 }) {
                0 => {
                    let number = self.choices.mostly(NUMBERS);
                    self.token(number);
                }
                1 => {
                    let string = self.choices.mostly(STRINGS);
                    self.token(string);
                }
                2 => {
                    let word = self.choices.mostly(WORDS);
                    self.token(word);
                }
                3 | 4 => {
                    let dollar = self.choices.one(&["$", "$", "$ "]);
                    self.put(dollar);
                    self.name();
                }
                5 => {
                    self.token("[");
                    for _ in 0..self.choices.pick(3) {
                        self.value(depth - 1);
                    }
                    self.token("]");
                }
                _ => {
                    self.token("{");
                    for _ in 0..self.choices.pick(3) {
                        self.name();
                        self.token(":");
                        self.value(depth - 1);
                    }
                    self.token("}");
                }
            }
        }
    }

    fn document(choices: &[u32], odd_one_in: usize) -> String {
        let mut choices = Choices { stream: choices.iter(), odd_one_in };
        let mut writer = Writer { choices: &mut choices, text: String::new() };
        writer.document();
        writer.text
    }

    /// Deletes or inserts at a few char boundaries.
    fn mutated(text: &str, edits: &[(u32, u32)]) -> String {
        let mut text = text.to_owned();
        for &(at, what) in edits {
            let boundaries: Vec<usize> = (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
            let at = boundaries[at as usize % boundaries.len()];
            if what % 2 == 0 && at < text.len() {
                let next = boundaries.iter().find(|&&i| i > at).copied().unwrap_or(text.len());
                text.replace_range(at..next, "");
            } else {
                text.insert_str(at, TOKENS[what as usize / 2 % TOKENS.len()]);
            }
        }
        text
    }

    fn runner() -> TestRunner {
        TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() })
    }

    #[test]
    fn generated_documents_parse_as_pest_parses_them() {
        let answered = std::cell::Cell::new(0u32);
        runner()
            .run(&prop::collection::vec(any::<u32>(), 0..400), |choices| {
                answered.set(answered.get() + u32::from(agrees(&document(&choices, 0))));
                Ok(())
            })
            .unwrap();
        // With no odd tokens, most generated documents are valid and need no escapes: the fast
        // path must answer them.
        assert!(
            answered.get() >= cases() * 3 / 4,
            "the fast path answered {} of {} documents",
            answered.get(),
            cases()
        );
    }

    #[test]
    fn documents_with_a_few_characters_changed_parse_as_pest_parses_them() {
        let strategy = (prop::collection::vec(any::<u32>(), 0..400), prop::collection::vec(any::<(u32, u32)>(), 1..4));
        runner()
            .run(&strategy, |(choices, edits)| {
                agrees(&document(&choices, 8));
                agrees(&mutated(&document(&choices, 8), &edits));
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn token_soup_parses_as_pest_parses_it() {
        let strategy = prop::collection::vec((0..TOKENS.len(), 0..GAPS.len() + 4), 0..60);
        runner()
            .run(&strategy, |tokens| {
                let text: String =
                    tokens.iter().map(|&(token, gap)| [TOKENS[token], GAPS.get(gap).unwrap_or(&"")].concat()).collect();
                agrees(&text);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn the_benchmark_document_and_what_pest_alone_reads_are_answered_as_pest_answers_them() {
        let bench = "query Bench { roomSession(id: \"7a1b2c3d-9e8f-4a0b-8c1d-2e3f4a5b6c7d\") { participants(first: 20) \
                     { edges { cursor node { id sessionId context joinedAt updatedAt leftAt } } pageInfo { hasPreviousPage \
                     hasNextPage startCursor endCursor } totalCount } } } # 1-2";
        assert!(agrees(bench), "the fast path must answer a plain document");
        assert!(agrees("\u{feff}query($first: Int = 5, $f: [ID!]! @dir) { a(x: {y: [1, -2.5e3, ACTIVE, $f]}) @skip(if: false) ...F ... on T { b } }\r\nfragment F on T { c }"));
        // Left to pest: escapes, block strings, and where pest's grammar is not GraphQL's.
        for text in [
            r#"{ a(s: "\n") }"#,
            r#"{ a(s: """x""") }"#,
            "queryBench { a }",
            "{ ... on #c\n T { a } }",
            "query($a: Int = 1 @dir) { a }",
            // A variable in a default value, overwritten by a later key of the same name.
            "query($a: Int = {x: $a, x: 0}) { a }",
            "{ a(b: trueish) }",
            "{ a }\n{ b }",
            "fragment F on T { a }",
            "",
        ] {
            assert!(!agrees(text), "{text:?} is pest's to answer");
        }
    }

    #[test]
    fn selection_sets_nested_past_async_graphqls_bound_are_left_to_pest() {
        let nested = |depth: usize| format!("{}{}", "{ a ".repeat(depth), "}".repeat(depth));
        // The outermost set is not counted.
        assert!(agrees(&nested(SELECTION_DEPTH + 1)));
        assert!(!agrees(&nested(SELECTION_DEPTH + 2)));
        assert!(async_graphql::parser::parse_query(nested(SELECTION_DEPTH + 2)).is_err());
    }
}
