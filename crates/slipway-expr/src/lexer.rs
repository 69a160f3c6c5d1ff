//! Splits expression text into tokens, following GitHub's lexer: whitespace is skipped,
//! `'...'` strings escape a quote by doubling it, numbers are read up to the next
//! boundary character and must parse as JavaScript's `Number()` would.

use crate::error::{ErrorKind, ExprError};
use crate::number::{is_js_space, parse_js_number};

/// Longest expression accepted, in characters (GitHub's limit).
pub(crate) const MAX_EXPRESSION_LENGTH: usize = 21_000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    LeftParen,
    RightParen,
    LeftBracket,
    RightBracket,
    Comma,
    Dot,
    Bang,
    BangEqual,
    EqualEqual,
    Greater,
    GreaterEqual,
    Less,
    LessEqual,
    And,
    Or,
    Star,
    Number(f64),
    String(String),
    Identifier,
    True,
    False,
    Null,
    Eof,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub kind: TokenKind,
    /// The source text of the token.
    pub lexeme: String,
    /// 0-based character index of the token's first character.
    pub start: usize,
}

impl Token {
    /// How GitHub names a token in an error message.
    pub(crate) fn describe(&self) -> &str {
        match &self.kind {
            TokenKind::Eof => "EOF",
            TokenKind::String(value) => value,
            _ => &self.lexeme,
        }
    }
}

/// Tokens of `src`, ending with an `Eof` token.
pub(crate) fn lex(src: &str) -> Result<Vec<Token>, ExprError> {
    let chars: Vec<char> = src.chars().collect();
    if chars.len() > MAX_EXPRESSION_LENGTH {
        return Err(ExprError::new(
            ErrorKind::Lexing,
            0,
            format!("Exceeded max expression length {MAX_EXPRESSION_LENGTH}"),
        ));
    }
    let mut lexer = Lexer {
        chars: &chars,
        start: 0,
        offset: 0,
        tokens: Vec::new(),
    };
    lexer.run()?;
    Ok(lexer.tokens)
}

struct Lexer<'a> {
    chars: &'a [char],
    start: usize,
    offset: usize,
    tokens: Vec<Token>,
}

/// Characters that end a number or identifier.
fn is_boundary(c: char) -> bool {
    matches!(
        c,
        '(' | '[' | ')' | ']' | ',' | '.' | '!' | '>' | '<' | '=' | '&' | '|'
    ) || is_js_space(c)
}

fn is_legal_identifier(s: &[char]) -> bool {
    let Some((first, rest)) = s.split_first() else {
        return false;
    };
    (first.is_ascii_alphabetic() || *first == '_')
        && rest
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
}

impl Lexer<'_> {
    fn run(&mut self) -> Result<(), ExprError> {
        while let Some(&c) = self.chars.get(self.offset) {
            self.start = self.offset;
            self.offset += 1;
            match c {
                '(' => self.add(TokenKind::LeftParen),
                ')' => self.add(TokenKind::RightParen),
                '[' => self.add(TokenKind::LeftBracket),
                ']' => self.add(TokenKind::RightBracket),
                ',' => self.add(TokenKind::Comma),
                '.' => {
                    // A dot right after something indexable is member access;
                    // anywhere else it starts a number such as `.5`.
                    if matches!(
                        self.previous(),
                        Some(
                            TokenKind::Identifier
                                | TokenKind::RightBracket
                                | TokenKind::RightParen
                                | TokenKind::Star
                        )
                    ) {
                        self.add(TokenKind::Dot);
                    } else {
                        self.number()?;
                    }
                }
                '-' | '+' => self.number()?,
                '!' => {
                    let kind = if self.matches('=') {
                        TokenKind::BangEqual
                    } else {
                        TokenKind::Bang
                    };
                    self.add(kind);
                }
                '=' => self.pair('=', TokenKind::EqualEqual)?,
                '&' => self.pair('&', TokenKind::And)?,
                '|' => self.pair('|', TokenKind::Or)?,
                '<' => {
                    let kind = if self.matches('=') {
                        TokenKind::LessEqual
                    } else {
                        TokenKind::Less
                    };
                    self.add(kind);
                }
                '>' => {
                    let kind = if self.matches('=') {
                        TokenKind::GreaterEqual
                    } else {
                        TokenKind::Greater
                    };
                    self.add(kind);
                }
                '*' => self.add(TokenKind::Star),
                ' ' | '\r' | '\t' | '\n' => {}
                '\'' => self.string()?,
                c if c.is_ascii_digit() => self.number()?,
                _ => self.identifier()?,
            }
        }
        self.start = self.offset;
        self.add(TokenKind::Eof);
        Ok(())
    }

    fn previous(&self) -> Option<&TokenKind> {
        self.tokens.last().map(|t| &t.kind)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.offset).copied()
    }

    fn matches(&mut self, expected: char) -> bool {
        if self.peek() == Some(expected) {
            self.offset += 1;
            true
        } else {
            false
        }
    }

    fn lexeme(&self) -> String {
        self.chars
            .get(self.start..self.offset)
            .unwrap_or_default()
            .iter()
            .collect()
    }

    fn add(&mut self, kind: TokenKind) {
        let lexeme = self.lexeme();
        self.tokens.push(Token {
            kind,
            lexeme,
            start: self.start,
        });
    }

    fn unexpected(&self, lexeme: &str) -> ExprError {
        ExprError::new(
            ErrorKind::Lexing,
            self.start + 1,
            format!("Unexpected symbol: '{lexeme}'"),
        )
    }

    /// `==`, `&&`, `||`; a lone `=`, `&` or `|` is read to the next boundary and rejected.
    fn pair(&mut self, second: char, kind: TokenKind) -> Result<(), ExprError> {
        if self.matches(second) {
            self.add(kind);
            Ok(())
        } else {
            self.identifier()
        }
    }

    fn number(&mut self) -> Result<(), ExprError> {
        while let Some(c) = self.peek() {
            if is_boundary(c) && c != '.' {
                break;
            }
            self.offset += 1;
        }
        let lexeme = self.lexeme();
        let value = parse_js_number(&lexeme);
        if value.is_nan() {
            return Err(self.unexpected(&lexeme));
        }
        self.add(TokenKind::Number(value));
        Ok(())
    }

    fn string(&mut self) -> Result<(), ExprError> {
        let mut value = String::new();
        loop {
            match self.peek() {
                None => {
                    let rest: String = self
                        .chars
                        .get(self.start..)
                        .unwrap_or_default()
                        .iter()
                        .collect();
                    return Err(self.unexpected(&rest));
                }
                Some('\'') => {
                    self.offset += 1;
                    if self.peek() == Some('\'') {
                        self.offset += 1;
                        value.push('\'');
                    } else {
                        break;
                    }
                }
                Some(c) => {
                    self.offset += 1;
                    value.push(c);
                }
            }
        }
        self.add(TokenKind::String(value));
        Ok(())
    }

    fn identifier(&mut self) -> Result<(), ExprError> {
        while self.peek().is_some_and(|c| !is_boundary(c)) {
            self.offset += 1;
        }
        let word = self.chars.get(self.start..self.offset).unwrap_or_default();
        if !is_legal_identifier(word) {
            return Err(self.unexpected(&self.lexeme()));
        }
        let mut kind = TokenKind::Identifier;
        // After a dot every word is a property name, even `true` or `null`.
        if self.previous() != Some(&TokenKind::Dot) {
            match word {
                ['t', 'r', 'u', 'e'] => kind = TokenKind::True,
                ['f', 'a', 'l', 's', 'e'] => kind = TokenKind::False,
                ['n', 'u', 'l', 'l'] => kind = TokenKind::Null,
                ['N', 'a', 'N'] => kind = TokenKind::Number(f64::NAN),
                ['I', 'n', 'f', 'i', 'n', 'i', 't', 'y'] => kind = TokenKind::Number(f64::INFINITY),
                _ => {}
            }
        }
        self.add(kind);
        Ok(())
    }
}
