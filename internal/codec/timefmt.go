package codec

import "time"

// DatetimeText is how MySQL's text protocol writes a DATETIME(6).
const DatetimeText = "2006-01-02 15:04:05.000000"

// AppendTime appends t in TimeLayout, as t.UTC().AppendFormat(b,
// TimeLayout) does, without reading a layout (the cdc writes two times a
// change: AppendFormat was a fortieth of its CPU).
func AppendTime(b []byte, t time.Time) []byte { return appendTime(b, t, 'T', true) }

// AppendDatetimeText appends t in DatetimeText, as t.UTC().AppendFormat(b,
// DatetimeText) does.
func AppendDatetimeText(b []byte, t time.Time) []byte { return appendTime(b, t, ' ', false) }

func appendTime(b []byte, t time.Time, sep byte, zulu bool) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		if zulu {
			return t.AppendFormat(b, TimeLayout)
		}
		return t.AppendFormat(b, DatetimeText)
	}
	hour, minute, sec := t.Clock()
	var out [len(TimeLayout)]byte
	digits(out[0:4], year)
	out[4] = '-'
	digits(out[5:7], int(month))
	out[7] = '-'
	digits(out[8:10], day)
	out[10] = sep
	digits(out[11:13], hour)
	out[13] = ':'
	digits(out[14:16], minute)
	out[16] = ':'
	digits(out[17:19], sec)
	out[19] = '.'
	digits(out[20:26], t.Nanosecond()/1000) // truncated, as the layout's .000000
	if zulu {
		out[26] = 'Z'
		return append(b, out[:]...)
	}
	return append(b, out[:26]...)
}

// digits writes v's last len(d) decimal digits into d, zero-padded.
func digits(d []byte, v int) {
	for i := len(d) - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
}
