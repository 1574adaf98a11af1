//! Just enough of BTF (the kernel's type format, which clang writes into
//! every BPF object's `.BTF` section) to read an object's contract: its
//! maps' definitions, the enums that name their slots, and struct layouts.
//! Format: linux/Documentation/bpf/btf.rst.

use std::collections::HashMap;

const MAGIC: u16 = 0xeb9f;

#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub type_id: u32,
    /// In bits.
    pub offset: u32,
}

#[derive(Debug, Clone)]
pub enum Type {
    Int {
        size: u32,
    },
    Ptr {
        to: u32,
    },
    Array {
        element: u32,
        count: u32,
    },
    Struct {
        size: u32,
        members: Vec<Member>,
    },
    Enum {
        size: u32,
        values: Vec<(String, i64)>,
    },
    /// Typedef, const, volatile, restrict, type tag: the same as `to`.
    Alias {
        to: u32,
    },
    Var {
        to: u32,
    },
    /// (variable type id, offset, size) of each variable in the section.
    DataSec {
        vars: Vec<u32>,
    },
    Float {
        size: u32,
    },
    /// Kinds the contract never looks into (functions, forward declarations, tags).
    Other,
}

pub struct Btf {
    /// By type id; id 0 is `void`.
    types: Vec<(String, Type)>,
    by_name: HashMap<String, Vec<u32>>,
}

fn u32_at(bytes: &[u8], at: usize) -> Result<u32, String> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        .ok_or_else(|| format!("BTF truncated at byte {at}"))
}

impl Btf {
    /// Parses a `.BTF` section (little-endian: BPF objects built for x86,
    /// arm64, riscv; big-endian targets would need the swap).
    pub fn parse(bytes: &[u8]) -> Result<Btf, String> {
        let magic = u16::from_le_bytes(bytes.get(0..2).ok_or("no BTF header")?.try_into().unwrap());
        if magic != MAGIC {
            return Err(format!("BTF magic {magic:#x}"));
        }
        let header_len = u32_at(bytes, 4)? as usize;
        let (type_off, type_len) = (u32_at(bytes, 8)? as usize, u32_at(bytes, 12)? as usize);
        let (str_off, str_len) = (u32_at(bytes, 16)? as usize, u32_at(bytes, 20)? as usize);
        let types_bytes = bytes
            .get(header_len + type_off..header_len + type_off + type_len)
            .ok_or("BTF type section out of bounds")?;
        let strings = bytes
            .get(header_len + str_off..header_len + str_off + str_len)
            .ok_or("BTF string section out of bounds")?;
        let string = |offset: u32| -> Result<String, String> {
            let rest = strings
                .get(offset as usize..)
                .ok_or_else(|| format!("BTF string offset {offset}"))?;
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
        };
        let mut types = vec![(String::new(), Type::Other)];
        let mut at = 0;
        while at < types_bytes.len() {
            let name = string(u32_at(types_bytes, at)?)?;
            let info = u32_at(types_bytes, at + 4)?;
            let size_or_type = u32_at(types_bytes, at + 8)?;
            let vlen = (info & 0xffff) as usize;
            let kind = (info >> 24) & 0x1f;
            at += 12;
            let word = |i: usize| u32_at(types_bytes, at + 4 * i);
            let (ty, extra) = match kind {
                1 => (Type::Int { size: size_or_type }, 4),
                2 => (Type::Ptr { to: size_or_type }, 0),
                3 => (
                    Type::Array {
                        element: word(0)?,
                        count: word(2)?,
                    },
                    12,
                ),
                4 | 5 => {
                    let mut members = Vec::with_capacity(vlen);
                    for i in 0..vlen {
                        let offset = word(3 * i + 2)?;
                        members.push(Member {
                            name: string(word(3 * i)?)?,
                            type_id: word(3 * i + 1)?,
                            // With kind_flag the top 8 bits are a bitfield size.
                            offset: if info >> 31 == 1 {
                                offset & 0xff_ffff
                            } else {
                                offset
                            },
                        });
                    }
                    (
                        Type::Struct {
                            size: size_or_type,
                            members,
                        },
                        12 * vlen,
                    )
                }
                6 | 19 => {
                    let wide = kind == 19;
                    let step = if wide { 3 } else { 2 };
                    let mut values = Vec::with_capacity(vlen);
                    for i in 0..vlen {
                        let low = word(step * i + 1)?;
                        let value = if wide {
                            (u64::from(word(step * i + 2)?) << 32 | u64::from(low)) as i64
                        } else {
                            i64::from(low as i32)
                        };
                        values.push((string(word(step * i)?)?, value));
                    }
                    (
                        Type::Enum {
                            size: size_or_type,
                            values,
                        },
                        4 * step * vlen,
                    )
                }
                7 | 12 => (Type::Other, 0),
                8..=11 | 18 => (Type::Alias { to: size_or_type }, 0),
                13 => (Type::Other, 8 * vlen),
                14 => (Type::Var { to: size_or_type }, 4),
                15 => {
                    let vars = (0..vlen).map(|i| word(3 * i)).collect::<Result<_, _>>()?;
                    (Type::DataSec { vars }, 12 * vlen)
                }
                16 => (Type::Float { size: size_or_type }, 0),
                17 => (Type::Other, 4),
                other => return Err(format!("BTF kind {other} unknown")),
            };
            at += extra;
            types.push((name, ty));
        }
        let mut by_name: HashMap<String, Vec<u32>> = HashMap::new();
        for (id, (name, _)) in types.iter().enumerate().skip(1) {
            if !name.is_empty() {
                by_name.entry(name.clone()).or_default().push(id as u32);
            }
        }
        Ok(Btf { types, by_name })
    }

    pub fn get(&self, id: u32) -> Result<&(String, Type), String> {
        self.types
            .get(id as usize)
            .ok_or_else(|| format!("BTF type id {id} out of range"))
    }

    /// The type behind typedefs, qualifiers and variables.
    pub fn resolve(&self, mut id: u32) -> Result<(u32, &Type), String> {
        loop {
            match &self.get(id)?.1 {
                Type::Alias { to } | Type::Var { to } => id = *to,
                other => return Ok((id, other)),
            }
        }
    }

    pub fn size(&self, id: u32) -> Result<u32, String> {
        Ok(match self.resolve(id)?.1 {
            Type::Int { size }
            | Type::Struct { size, .. }
            | Type::Enum { size, .. }
            | Type::Float { size } => *size,
            Type::Ptr { .. } => 8,
            Type::Array { element, count } => self.size(*element)? * count,
            other => return Err(format!("type {id} ({other:?}) has no size")),
        })
    }

    /// The variables of data section `name`: (variable name, its type id).
    pub fn section_vars(&self, name: &str) -> Result<Vec<(String, u32)>, String> {
        let Some(ids) = self.by_name.get(name) else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for &id in ids {
            if let Type::DataSec { vars } = &self.get(id)?.1 {
                for &var in vars {
                    let (var_name, ty) = self.get(var)?;
                    if let Type::Var { to } = ty {
                        found.push((var_name.clone(), *to));
                    }
                }
            }
        }
        Ok(found)
    }
}
