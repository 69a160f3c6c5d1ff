//! Recursive-descent parser with one function per precedence level (lowest first):
//! `||`, `&&`, `== !=`, `< <= > >=`, `!`, then indexing/calls/literals. Nesting is
//! counted exactly as GitHub counts it, and more than [`MAX_DEPTH`] levels is an error,
//! so hostile input cannot overflow the stack.

use crate::ParseOptions;
use crate::ast::{BinaryOp, Function, Index, Node};
use crate::error::{ErrorKind, ExprError};
use crate::lexer::{Token, TokenKind};
use crate::value::{Value, fold_key};

/// GitHub's maximum expression nesting depth.
pub(crate) const MAX_DEPTH: usize = 50;

/// Parses tokens (ending in `Eof`) into a tree; `None` for an empty expression.
pub(crate) fn parse_tokens(
    tokens: &[Token],
    opts: &ParseOptions,
) -> Result<Option<Node>, ExprError> {
    let mut parser = Parser {
        tokens,
        offset: 0,
        depth: 0,
        opts,
    };
    if parser.at_end() {
        return Ok(None);
    }
    let node = parser.expression()?;
    if !parser.at_end() {
        return Err(parser.unexpected_symbol(parser.peek()));
    }
    Ok(Some(node))
}

struct Parser<'t> {
    tokens: &'t [Token],
    offset: usize,
    depth: usize,
    opts: &'t ParseOptions,
}

impl<'t> Parser<'t> {
    fn expression(&mut self) -> Result<Node, ExprError> {
        self.enter()?;
        let node = self.logical_or();
        self.depth -= 1;
        node
    }

    fn logical_or(&mut self) -> Result<Node, ExprError> {
        let first = self.logical_and()?;
        if !self.check(&TokenKind::Or) {
            return Ok(first);
        }
        self.enter()?;
        let mut items = vec![first];
        while self.eat(&TokenKind::Or) {
            items.push(self.logical_and()?);
        }
        self.depth -= 1;
        Ok(Node::Or(items))
    }

    fn logical_and(&mut self) -> Result<Node, ExprError> {
        let first = self.equality()?;
        if !self.check(&TokenKind::And) {
            return Ok(first);
        }
        self.enter()?;
        let mut items = vec![first];
        while self.eat(&TokenKind::And) {
            items.push(self.equality()?);
        }
        self.depth -= 1;
        Ok(Node::And(items))
    }

    fn equality(&mut self) -> Result<Node, ExprError> {
        let first = self.comparison()?;
        let mut rest = Vec::new();
        loop {
            let op = match self.peek().kind {
                TokenKind::EqualEqual => BinaryOp::Equal,
                TokenKind::BangEqual => BinaryOp::NotEqual,
                _ => break,
            };
            self.offset += 1;
            rest.push((op, self.comparison()?));
        }
        Ok(chain(first, rest))
    }

    fn comparison(&mut self) -> Result<Node, ExprError> {
        let first = self.unary()?;
        let mut rest = Vec::new();
        loop {
            let op = match self.peek().kind {
                TokenKind::Greater => BinaryOp::Greater,
                TokenKind::GreaterEqual => BinaryOp::GreaterEqual,
                TokenKind::Less => BinaryOp::Less,
                TokenKind::LessEqual => BinaryOp::LessEqual,
                _ => break,
            };
            self.offset += 1;
            rest.push((op, self.unary()?));
        }
        Ok(chain(first, rest))
    }

    fn unary(&mut self) -> Result<Node, ExprError> {
        if self.eat(&TokenKind::Bang) {
            self.enter()?;
            let operand = self.unary()?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(operand)));
        }
        self.index()
    }

    /// Postfix `[...]`, `.name` and `.*`, allowed after a context, a call or a group.
    fn index(&mut self) -> Result<Node, ExprError> {
        let (mut node, indexable) = self.call()?;
        if !indexable {
            return Ok(node);
        }
        let depth_before = self.depth;
        loop {
            if self.eat(&TokenKind::LeftBracket) {
                let index = if self.eat(&TokenKind::Star) {
                    Index::Star
                } else {
                    Index::Expr(Box::new(self.expression()?))
                };
                self.expect(&TokenKind::RightBracket)?;
                self.enter()?;
                node = Node::Index {
                    target: Box::new(node),
                    index,
                };
            } else if self.eat(&TokenKind::Dot) {
                self.enter()?;
                let index = if self.check(&TokenKind::Identifier) {
                    Index::Property(fold_key(&self.next().lexeme).into_owned())
                } else if self.eat(&TokenKind::Star) {
                    Index::Star
                } else {
                    return Err(self.unexpected_symbol(self.peek()));
                };
                node = Node::Index {
                    target: Box::new(node),
                    index,
                };
            } else {
                break;
            }
        }
        self.depth = depth_before;
        Ok(node)
    }

    /// A function call, a context name, or a primary; the flag says whether the result
    /// may be indexed.
    fn call(&mut self) -> Result<(Node, bool), ExprError> {
        if !self.check(&TokenKind::Identifier) {
            return self.primary();
        }
        let identifier = self.next();
        let folded = identifier.lexeme.to_ascii_lowercase();
        if !self.eat(&TokenKind::LeftParen) {
            if !self.opts.allows_context(&folded) {
                return Err(error_at(
                    ErrorKind::Parsing,
                    identifier,
                    format!("Unrecognized named-value: '{}'", identifier.lexeme),
                ));
            }
            return Ok((Node::Context(folded), true));
        }
        let mut args = Vec::new();
        while !self.eat(&TokenKind::RightParen) {
            args.push(self.expression()?);
            if !self.check(&TokenKind::RightParen) {
                self.expect(&TokenKind::Comma)?;
            }
        }
        let function = self.validate_function(identifier, &folded, args.len())?;
        Ok((Node::Call { function, args }, true))
    }

    fn validate_function(
        &self,
        identifier: &Token,
        folded: &str,
        count: usize,
    ) -> Result<Function, ExprError> {
        let function = Function::by_name(folded).filter(|f| match f {
            Function::Status(_) => self.opts.status_functions,
            Function::HashFiles => self.opts.hash_files,
            _ => true,
        });
        let Some(function) = function else {
            return Err(error_at(
                ErrorKind::Parsing,
                identifier,
                format!("Unrecognized function: '{}'", identifier.lexeme),
            ));
        };
        let (min, max) = function.arity();
        let problem = if count < min {
            "Too few parameters supplied"
        } else if count > max {
            "Too many parameters supplied"
        } else if function == Function::Case && count.is_multiple_of(2) {
            "Even number of parameters supplied, requires an odd number of parameters"
        } else {
            return Ok(function);
        };
        Err(error_at(
            ErrorKind::Parsing,
            identifier,
            format!("{problem}: '{}'", identifier.lexeme),
        ))
    }

    fn primary(&mut self) -> Result<(Node, bool), ExprError> {
        let token = self.peek();
        let literal = match &token.kind {
            TokenKind::False => Value::Bool(false),
            TokenKind::True => Value::Bool(true),
            TokenKind::Null => Value::Null,
            TokenKind::Number(n) => Value::Number(*n),
            TokenKind::String(s) => Value::String(s.clone()),
            TokenKind::LeftParen => {
                self.offset += 1;
                let inner = self.expression()?;
                if self.at_end() {
                    return Err(self.unexpected_end());
                }
                self.expect(&TokenKind::RightParen)?;
                return Ok((inner, true));
            }
            TokenKind::Eof => return Err(self.unexpected_end()),
            _ => return Err(self.unexpected_symbol(token)),
        };
        self.offset += 1;
        Ok((Node::Literal(literal), false))
    }

    /// Enters one nesting level, failing beyond GitHub's limit.
    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(error_at(
                ErrorKind::Parsing,
                self.peek(),
                format!("Exceeded max expression depth {MAX_DEPTH}"),
            ));
        }
        Ok(())
    }

    fn peek(&self) -> &'t Token {
        // The token list always ends with Eof and `offset` never passes it.
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[self.offset.min(last)]
    }

    fn at_end(&self) -> bool {
        self.peek().kind == TokenKind::Eof
    }

    fn check(&self, kind: &TokenKind) -> bool {
        std::mem::discriminant(&self.peek().kind) == std::mem::discriminant(kind) && !self.at_end()
    }

    fn next(&mut self) -> &'t Token {
        let token = self.peek();
        if !self.at_end() {
            self.offset += 1;
        }
        token
    }

    fn eat(&mut self, kind: &TokenKind) -> bool {
        if self.check(kind) {
            self.offset += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, kind: &TokenKind) -> Result<(), ExprError> {
        if self.eat(kind) {
            Ok(())
        } else {
            Err(self.unexpected_symbol(self.peek()))
        }
    }

    fn unexpected_symbol(&self, token: &Token) -> ExprError {
        error_at(
            ErrorKind::Parsing,
            token,
            format!("Unexpected symbol: '{}'", token.describe()),
        )
    }

    /// GitHub reports a premature end at the last real token.
    fn unexpected_end(&self) -> ExprError {
        let last = self
            .offset
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .unwrap_or_else(|| self.peek());
        error_at(
            ErrorKind::Parsing,
            last,
            format!("Unexpected end of expression: '{}'", last.describe()),
        )
    }
}

fn chain(first: Node, rest: Vec<(BinaryOp, Node)>) -> Node {
    if rest.is_empty() {
        first
    } else {
        Node::Chain {
            first: Box::new(first),
            rest,
        }
    }
}

fn error_at(kind: ErrorKind, token: &Token, message: String) -> ExprError {
    ExprError::new(kind, token.start + 1, message)
}
