(deftemplate cfg (slot name) (slot value (default 10)) (multislot list (default x y)))
(deffacts base (cfg (name a)) (cfg (name b) (value 3)) (flag on))
(deffacts more (cfg (name c) (list)) (flag off))
(defrule show (cfg (name ?n) (value ?v) (list $?l)) => (printout t ?n "=" ?v " " $?l crlf))
(defrule flags (flag ?f) => (printout t "flag " ?f crlf))
;;; script
(run)
(reset)
(run)
